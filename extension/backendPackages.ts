/**
 * "Install GPU Backend" and "Install Native CPU Kernels": the packages behind the trainer's faster
 * backends are native and platform-specific (tfjs-node-gpu downloads libtensorflow at install;
 * onnxruntime-node carries binaries for every platform, about 250 MB), so neither is shipped in
 * the .vsix. Each installs on demand into the extension's global storage, where the trainer's
 * backend chooser finds it through NODE_PATH (see modulesPath).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';

export interface BackendPackage {
  /** Folder under global storage. */
  folder: string;
  /** npm spec, pinned: the trainer relies on the exact version. */
  spec: string;
  /** Platforms the package has binaries for. */
  platforms: readonly NodeJS.Platform[];
  unsupported: string;
  /** Extra environment for npm (e.g. skip an optional download). */
  env?: Record<string, string>;
  done: string;
  /** Why an install failed, from npm's output. */
  failure(out: string, code: number | null): string;
}

const offline = (out: string) => /ENOTFOUND|EAI_AGAIN|ECONNREFUSED|getaddrinfo|network/i.test(out);

export const GPU_PACKAGE: BackendPackage = {
  folder: 'gpu-backend',
  spec: '@tensorflow/tfjs-node-gpu@4.22.0',
  platforms: ['linux', 'win32'],
  unsupported: 'The TensorFlow.js GPU backend exists for Linux and Windows with an NVIDIA GPU only.',
  done: 'GPU backend installed. New runs use it when CUDA is found (setting contrastiveLab.backend: auto or tensorflow-gpu).',
  failure: (out, code) =>
    offline(out)
      ? 'no network: the package downloads libtensorflow while installing'
      : /CUDA|cudnn|libcuda/i.test(out)
        ? 'CUDA 11.2 / cuDNN 8.1 were not found'
        : `npm exited with code ${code}`,
};

/** Must equal the version in package.json: ort-convs.ts uses the package's internal binding. */
export const ORT_PACKAGE: BackendPackage = {
  folder: 'native-kernels',
  spec: 'onnxruntime-node@1.31.1',
  platforms: ['linux', 'win32', 'darwin'],
  unsupported: 'ONNX Runtime for Node.js has binaries for Linux, Windows and macOS only.',
  // Its install script only fetches optional CUDA binaries; the CPU kernels are in the package.
  env: { ONNXRUNTIME_NODE_INSTALL: 'skip' },
  done: 'Native CPU kernels installed. New runs compute convolutions with ONNX Runtime (setting contrastiveLab.backend: auto or onnxruntime).',
  failure: (out, code) =>
    offline(out) ? 'no network to reach the npm registry' : `npm exited with code ${code}`,
};

function modulesDir(context: vscode.ExtensionContext, pkg: BackendPackage): string {
  return path.join(context.globalStorageUri.fsPath, pkg.folder, 'node_modules');
}

/** NODE_PATH for a trainer or tool process: the installed backend packages, then the inherited one. */
export function modulesPath(context: vscode.ExtensionContext): string {
  return [modulesDir(context, GPU_PACKAGE), modulesDir(context, ORT_PACKAGE), process.env.NODE_PATH]
    .filter(Boolean)
    .join(path.delimiter);
}

export async function installBackendPackage(
  context: vscode.ExtensionContext,
  log: vscode.LogOutputChannel,
  pkg: BackendPackage,
): Promise<void> {
  if (!pkg.platforms.includes(process.platform)) {
    void vscode.window.showErrorMessage(pkg.unsupported);
    return;
  }
  const prefix = path.dirname(modulesDir(context, pkg));
  fs.mkdirSync(prefix, { recursive: true });
  await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `Installing ${pkg.spec}`, cancellable: true },
    (progress, token) =>
      new Promise<void>((resolve) => {
        const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
        const child = spawn(npm, ['install', '--no-audit', '--no-fund', '--prefix', prefix, pkg.spec], {
          cwd: prefix,
          shell: false,
          env: { ...process.env, ...pkg.env },
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
            void vscode.window.showInformationMessage(pkg.done);
          } else if (!token.isCancellationRequested) {
            void vscode.window.showErrorMessage(
              `Installing ${pkg.spec} failed: ${pkg.failure(out, code)}. Details are in the Contrastive Lab log.`,
            );
          }
          resolve();
        });
      }),
  );
}
