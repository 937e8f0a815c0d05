/**
 * A loader for tfjs-backend-wasm's multi-threaded binary under Node.
 *
 * The stock package always runs one thread in Node: its WASM_HAS_MULTITHREAD_SUPPORT flag is hard
 * wired to false there, and forcing it fails because the pthread workers would be started from
 * `blob:` URLs, which Node's Worker cannot load (ERR_WORKER_PATH). This loader instantiates the
 * same threaded Emscripten module with real files instead: the module's own script (a CommonJS
 * file the package ships in wasm-out/, or its copy in dist/wasm/ in the bundle) as the workers'
 * main script, and the worker bootstrap written to a file. It then registers it as the 'wasm'
 * backend in place of the stock factory, so every wasm kernel (and ours) runs unchanged.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { BackendWasm, setThreadsCount, version_wasm } from '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { THREADS_ENV_VAR } from '../run/priority';

export const THREADED_FILES = {
  wasm: 'tfjs-backend-wasm-threaded-simd.wasm',
  script: 'tfjs-backend-wasm-threaded-simd.js',
  worker: 'tfjs-backend-wasm-threaded-simd.worker.js',
} as const;

/** Environment variable that sets the wasm thread count (default: the number of cores). */
export { THREADS_ENV_VAR };

/** The priority tfjs-backend-wasm registers 'wasm' with. */
const WASM_PRIORITY = 2;

function lazyRequire(): NodeJS.Require {
  const from = typeof __filename === 'string' ? __filename : path.join(process.cwd(), 'index.js');
  return createRequire(from);
}

/** The package's wasm-out/ folder (absent in the packaged extension, which has dist/wasm/). */
function packageWasmOut(): string | undefined {
  try {
    const dir = path.join(
      path.dirname(lazyRequire().resolve('@tensorflow/tfjs-backend-wasm/package.json')),
      'wasm-out',
    );
    return existsSync(path.join(dir, THREADED_FILES.script)) ? dir : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The worker bootstrap as a script file. The package ships it only as a string export
 * (`wasmWorkerContents`); the build writes it beside the binaries, and in development it is written
 * once to a per-version folder under the temporary directory.
 */
function workerScript(dir: string | undefined, wasmOut: string | undefined): string {
  if (dir !== undefined && existsSync(path.join(dir, THREADED_FILES.worker))) {
    const file = path.join(dir, THREADED_FILES.worker);
    // The package's wasm-out/ file of that name is a module exporting the text, not the script.
    if (!readFileSync(file, 'utf8').startsWith('module.exports')) return file;
  }
  if (wasmOut === undefined) throw new Error(`${THREADED_FILES.worker} not found (looked in ${dir ?? '-'})`);
  const text = workerText(wasmOut);
  const cacheDir = path.join(os.tmpdir(), `contrastive-lab-wasm-${version_wasm}`);
  const file = path.join(cacheDir, THREADED_FILES.worker);
  if (!existsSync(file) || readFileSync(file, 'utf8') !== text) {
    mkdirSync(cacheDir, { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, text);
    renameSync(tmp, file);
  }
  return file;
}

/**
 * The bootstrap's source text. The export went through a template literal, which turned the
 * script's "\n" escapes into real line breaks inside string literals; put them back (the stock
 * loader does the same before making its Blob).
 */
export function workerText(wasmOut: string): string {
  const mod = lazyRequire()(path.join(wasmOut, THREADED_FILES.worker)) as { wasmWorkerContents: string };
  return mod.wasmWorkerContents.replace(/\n/g, '\\n');
}

export interface ThreadedFiles {
  wasm: string;
  script: string;
  worker: string;
}

/** Where the threaded binary, module script and worker script are, preferring `dir`. */
export function findThreadedFiles(dir?: string): ThreadedFiles {
  const wasmOut = packageWasmOut();
  const pick = (name: string): string => {
    for (const d of [dir, wasmOut])
      if (d !== undefined && existsSync(path.join(d, name))) return path.join(d, name);
    throw new Error(
      `${name} not found (looked in ${[dir, wasmOut].filter(Boolean).join(', ') || 'nowhere'})`,
    );
  };
  return {
    wasm: pick(THREADED_FILES.wasm),
    script: pick(THREADED_FILES.script),
    worker: workerScript(dir, wasmOut),
  };
}

/**
 * Threads to run with: an explicit request, else CONTRASTIVE_LAB_THREADS, else the number of
 * cores. Throws on anything but a positive integer, naming where it came from.
 */
export function resolveThreads(requested?: number, env: NodeJS.ProcessEnv = process.env): number {
  const fromEnv = env[THREADS_ENV_VAR];
  const [value, source] =
    requested !== undefined
      ? [String(requested), 'threads']
      : fromEnv !== undefined && fromEnv.trim() !== ''
        ? [fromEnv.trim(), THREADS_ENV_VAR]
        : [String(os.availableParallelism?.() ?? os.cpus().length), 'cores'];
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`${source}: expected a positive integer, got '${value}'`);
  return n;
}

/**
 * The module caps its pool at half the cores it sees (a static initialiser divides emscripten's
 * core count, os.cpus() under Node, by 2 for hyper-threading), so on a 2-core machine any request
 * collapses to one thread. Report enough cores while the module starts, and only then.
 */
async function withReportedCores<T>(cores: number, fn: () => Promise<T>): Promise<T> {
  // The module object `require('os')` returns (what the emscripten glue reads), not an ES
  // namespace, whose properties are read-only.
  const osModule = lazyRequire()('os') as { cpus: typeof os.cpus };
  const real = osModule.cpus;
  const have = real.call(osModule);
  if (have.length >= cores) return await fn();
  osModule.cpus = () => Array.from({ length: cores }, (_, i) => have[i % have.length]);
  try {
    return await fn();
  } finally {
    osModule.cpus = real;
  }
}

type EmscriptenModule = {
  cwrap(name: string, ret: string | null, args: string[]): (...a: number[]) => number;
  tfjs?: Record<string, unknown>;
  PThread?: { runningWorkers: { unref?: () => void }[] };
};

/**
 * Registers 'wasm' as the threaded module with `threads` threads. Must run before the wasm backend
 * is first initialised in this process (a running backend cannot change its binary); returns
 * false, changing nothing, when it already was.
 */
export async function registerThreadedWasm(threads: number, dir?: string): Promise<boolean> {
  if (tf.engine().registry.wasm !== undefined) return false;
  if (typeof SharedArrayBuffer === 'undefined') throw new Error('SharedArrayBuffer is not available');
  const files = findThreadedFiles(dir);
  const factory = lazyRequire()(files.script) as (cfg: Record<string, unknown>) => Promise<EmscriptenModule>;
  const config = {
    // Workers import this file by path; the stock loader passes a Blob, which Node cannot import.
    mainScriptUrlOrBlob: files.script,
    locateFile: (p: string, prefix: string) => {
      if (p.endsWith('.worker.js')) return files.worker;
      if (p.endsWith('.wasm')) return files.wasm;
      return prefix + p;
    },
  };
  const module = await withReportedCores(2 * threads, () => factory(config));
  module.tfjs = {
    init: module.cwrap('init', null, []),
    initWithThreadsCount: module.cwrap('init_with_threads_count', null, ['number']),
    getThreadsCount: module.cwrap('get_threads_count', 'number', []),
    registerTensor: module.cwrap('register_tensor', null, ['number', 'number', 'number']),
    disposeData: module.cwrap('dispose_data', null, ['number']),
    dispose: module.cwrap('dispose', null, []),
  };
  // BackendWasm's constructor passes this to XNNPACK's thread pool.
  setThreadsCount(threads);
  tf.removeBackend('wasm');
  tf.registerBackend(
    'wasm',
    () => {
      const backend = new BackendWasm(module as never);
      // The pool's threads started with the backend; emscripten unrefs only idle workers, so the
      // running ones would keep Node alive after the program's work is done.
      for (const w of module.PThread?.runningWorkers ?? []) w.unref?.();
      return backend;
    },
    WASM_PRIORITY,
  );
  return true;
}
