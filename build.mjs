// Bundles the trainer (Node CLI), the extension (Node, `vscode` external) and each webview
// (browser IIFE) with esbuild. Type checking is separate: `npm run typecheck` (tsc --noEmit).

import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import * as esbuild from 'esbuild';

const watch = process.argv.includes('--watch');
const production = process.argv.includes('--production');
const pkg = JSON.parse(fs.readFileSync('package.json', 'utf8'));
const out = 'dist';
fs.mkdirSync(path.join(out, 'wasm'), { recursive: true });

// The wasm backend loads its .wasm binaries at run time from the directory given to setWasmPaths.
const wasmSrc = 'node_modules/@tensorflow/tfjs-backend-wasm/dist';
for (const f of fs.readdirSync(wasmSrc)) {
  if (f.endsWith('.wasm')) fs.copyFileSync(path.join(wasmSrc, f), path.join(out, 'wasm', f));
}
// The threaded binary's loader (trainer/backend/wasm-threads.ts) needs two scripts as real files:
// the Emscripten module, which every pthread worker imports by path, and the worker bootstrap,
// which the package ships only as a string export. A template literal turned the bootstrap's "\n"
// escapes into line breaks inside its string literals; they are put back as the stock loader does.
const wasmOut = 'node_modules/@tensorflow/tfjs-backend-wasm/wasm-out';
fs.copyFileSync(
  path.join(wasmOut, 'tfjs-backend-wasm-threaded-simd.js'),
  path.join(out, 'wasm', 'tfjs-backend-wasm-threaded-simd.js'),
);
const { wasmWorkerContents } = createRequire(import.meta.url)(
  `./${wasmOut}/tfjs-backend-wasm-threaded-simd.worker.js`,
);
fs.writeFileSync(
  path.join(out, 'wasm', 'tfjs-backend-wasm-threaded-simd.worker.js'),
  wasmWorkerContents.replace(/\n/g, '\\n'),
);

// The config schema is shared with VS Code's JSON validation (contributes.jsonValidation).
fs.copyFileSync('trainer/config/schema.json', path.join(out, 'config.schema.json'));

const common = {
  bundle: true,
  sourcemap: !production,
  minify: production,
  logLevel: 'warning',
  define: { __TRAINER_VERSION__: JSON.stringify(pkg.version) },
};

const builds = [
  {
    ...common,
    entryPoints: { trainer: 'trainer/cli.ts' },
    outdir: out,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    // Native backends are optional and loaded at run time only when installed.
    external: ['@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu'],
  },
];
if (fs.existsSync('extension/extension.ts')) {
  builds.push({
    ...common,
    entryPoints: { extension: 'extension/extension.ts' },
    // When the bundle began to run, before any module in it (benchmark: loading counts as
    // activation). The directive is repeated so that it stays the file's first statement.
    banner: { js: '"use strict"; var __CL_BUNDLE_START__ = performance.now();' },
    outdir: out,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['vscode', '@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu'],
  });
}
const webviews = fs.existsSync('webview')
  ? fs.readdirSync('webview').filter((d) => fs.existsSync(path.join('webview', d, 'main.ts')))
  : [];
if (webviews.length) {
  builds.push({
    ...common,
    entryPoints: Object.fromEntries(webviews.map((d) => [d, path.join('webview', d, 'main.ts')])),
    outdir: path.join(out, 'webview'),
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
  });
}

if (watch) {
  for (const b of builds) await (await esbuild.context(b)).watch();
} else {
  const t = Date.now();
  await Promise.all(builds.map((b) => esbuild.build(b)));
  console.log(`built ${builds.length} bundle groups in ${Date.now() - t} ms`);
}
