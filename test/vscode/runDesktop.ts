/**
 * `npm run test:desktop`: the same extension-host mocha suite as `npm run test:vscode`, but in a
 * desktop VS Code downloaded by @vscode/test-electron — for developers with internet. CI (no
 * network) runs the code-server variant; this file only differs in how VS Code is obtained.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runTests } from '@vscode/test-electron';
import * as esbuild from 'esbuild';
import { ensureBuilt, makeWorkspace } from './fixture';

const ROOT = path.resolve(__dirname, '..', '..');

async function main(): Promise<number> {
  ensureBuilt();
  const out = path.join(ROOT, 'dist', 'test', 'vscode', `desktop-${process.pid}`);
  const src = path.join(__dirname, 'suite');
  await esbuild.build({
    entryPoints: fs
      .readdirSync(src)
      .filter((f) => f === 'index.ts' || f.endsWith('.test.ts'))
      .map((f) => path.join(src, f)),
    outdir: out,
    outbase: src,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['vscode', 'mocha'],
    logLevel: 'warning',
  });
  const ws = makeWorkspace();
  try {
    return await runTests({
      version: '1.100.3',
      extensionDevelopmentPath: ROOT,
      extensionTestsPath: path.join(out, 'index.js'),
      launchArgs: [ws.dir, '--disable-extensions', '--disable-workspace-trust'],
      extensionTestsEnv: {
        CL_VSCODE_FIXTURE: JSON.stringify({
          workspace: ws.dir,
          runsDir: ws.runsDir,
          runs: Object.fromEntries(ws.runs),
        }),
      },
    });
  } finally {
    ws.dispose();
    fs.rmSync(out, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(
      `test:desktop: ${(e as Error).message}\n(it downloads VS Code: it needs internet; offline, use npm run test:vscode)`,
    );
    process.exit(1);
  },
);
