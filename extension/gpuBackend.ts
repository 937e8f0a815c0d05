/**
 * "Install GPU Backend": tfjs-node-gpu is native, platform-specific and downloads libtensorflow
 * at install, so it is not shipped in the .vsix; this installs it on demand into the extension's
 * global storage, where the trainer finds it through NODE_PATH.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';

export const GPU_PACKAGE = '@tensorflow/tfjs-node-gpu@4.22.0';

export function gpuModulesDir(context: vscode.ExtensionContext): string {
  return path.join(context.globalStorageUri.fsPath, 'gpu-backend', 'node_modules');
}

export async function installGpuBackend(
  context: vscode.ExtensionContext,
  log: vscode.LogOutputChannel,
): Promise<void> {
  if (process.platform !== 'linux' && process.platform !== 'win32') {
    void vscode.window.showErrorMessage(
      'The TensorFlow.js GPU backend exists for Linux and Windows with an NVIDIA GPU only.',
    );
    return;
  }
  const prefix = path.dirname(gpuModulesDir(context));
  fs.mkdirSync(prefix, { recursive: true });
  await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `Installing ${GPU_PACKAGE}`, cancellable: true },
    (progress, token) =>
      new Promise<void>((resolve) => {
        const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
        const child = spawn(npm, ['install', '--no-audit', '--no-fund', '--prefix', prefix, GPU_PACKAGE], {
          cwd: prefix,
          shell: false,
        });
        let out = '';
        const onData = (d: Buffer) => {
          const text = d.toString();
          out += text;
          log.info(text.trimEnd());
          progress.report({ message: text.split('\n').filter(Boolean).at(-1)?.slice(0, 80) });
        };
        child.stdout.on('data', onData);
        child.stderr.on('data', onData);
        token.onCancellationRequested(() => child.kill());
        child.on('error', (e) => {
          void vscode.window.showErrorMessage(
            `Could not run npm (${e.message}). Install Node.js and npm, then try again.`,
          );
          resolve();
        });
        child.on('exit', (code) => {
          if (code === 0) {
            void vscode.window.showInformationMessage(
              'GPU backend installed. New runs use it when CUDA is found (setting contrastiveLab.backend: auto or tensorflow-gpu).',
            );
          } else if (!token.isCancellationRequested) {
            const offline = /ENOTFOUND|EAI_AGAIN|ECONNREFUSED|getaddrinfo|network/i.test(out);
            const why = offline
              ? 'no network: the package downloads libtensorflow while installing'
              : /CUDA|cudnn|libcuda/i.test(out)
                ? 'CUDA 11.2 / cuDNN 8.1 were not found'
                : `npm exited with code ${code}`;
            void vscode.window.showErrorMessage(
              `Installing the GPU backend failed: ${why}. Details are in the Contrastive Lab log.`,
            );
          }
          resolve();
        });
      }),
  );
}
