/**
 * Picks the TensorFlow.js backend the trainer runs on.
 *
 * Preference order for 'auto': native TensorFlow with CUDA (@tensorflow/tfjs-node-gpu), native
 * TensorFlow on the CPU (@tensorflow/tfjs-node), the wasm backend with our training kernels, and
 * finally the pure-JS cpu backend (correct but about 100x too slow to train conv nets).
 *
 * The native packages are optional and often absent (their install downloads libtensorflow), so
 * they are required lazily through `createRequire`: a bundler (esbuild) cannot see those requires
 * and so neither fails the build nor inlines a native addon.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
// A named import, not a bare one: the package marks its CommonJS entry side-effect free, so esbuild
// drops `import '@tensorflow/tfjs-backend-cpu'` and the cpu backend never registers in the bundle.
import { version_cpu } from '@tensorflow/tfjs-backend-cpu';
import { getThreadsCount, setWasmPaths, version_wasm } from '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
// Training needs gradient functions on every backend, and tfjs-core registers none by itself.
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { installLeanBackprop } from './backprop';
import {
  loadOrt,
  ORT_PACKAGE,
  registerOrtConvKernels,
  setOrtThreads,
  unregisterOrtConvKernels,
} from './ort-convs';
import { registerWasmTrainingKernels } from './wasm-kernels';
import { registerThreadedWasm, resolveThreads } from './wasm-threads';

export { THREADS_ENV_VAR } from './wasm-threads';

export type BackendPreference = 'auto' | 'tensorflow-gpu' | 'tensorflow' | 'onnxruntime' | 'wasm' | 'cpu';
export type BackendName = Exclude<BackendPreference, 'auto'>;

export const BACKEND_PREFERENCES: readonly BackendPreference[] = [
  'auto',
  'tensorflow-gpu',
  'tensorflow',
  'onnxruntime',
  'wasm',
  'cpu',
];

/** Environment variable that overrides an 'auto' preference. */
export const BACKEND_ENV_VAR = 'CONTRASTIVE_LAB_BACKEND';

export interface BackendAttempt {
  name: BackendName;
  error: string;
}

export interface BackendInfo {
  name: BackendName;
  /** tf.getBackend() after initialisation ('tensorflow', 'wasm' or 'cpu'; 'wasm' for onnxruntime). */
  tfBackend: string;
  /** Version of the package that provides the backend. */
  version: string;
  /** Worker threads the backend computes with (best knowledge; native TF uses its own pool). */
  threads: number;
  /** Why this backend, including why better ones were skipped. */
  reason: string;
  /** Backends tried before this one, with why each failed. */
  tried: BackendAttempt[];
}

export interface InitBackendOptions {
  /** Directory holding the tfjs-backend-wasm .wasm files (when the trainer is bundled). */
  wasmDir?: string;
  /**
   * Threads for the wasm backend (default: CONTRASTIVE_LAB_THREADS, else the number of cores).
   * 1 loads the stock single-threaded binary; more load the threaded one. Fixed once the wasm
   * backend has started in a process.
   */
  threads?: number;
  log?: (msg: string) => void;
}

interface NativePackage {
  name: 'tensorflow-gpu' | 'tensorflow';
  pkg: string;
  install: string;
}

const NATIVE: Record<'tensorflow-gpu' | 'tensorflow', NativePackage> = {
  'tensorflow-gpu': {
    name: 'tensorflow-gpu',
    pkg: '@tensorflow/tfjs-node-gpu',
    install:
      'npm install @tensorflow/tfjs-node-gpu (Linux x64 with an NVIDIA driver, CUDA 11.2 and cuDNN 8.1; ' +
      'its install script downloads libtensorflow from storage.googleapis.com)',
  },
  tensorflow: {
    name: 'tensorflow',
    pkg: '@tensorflow/tfjs-node',
    install:
      'npm install @tensorflow/tfjs-node (its install script downloads libtensorflow from storage.googleapis.com)',
  },
};

/** A require the bundler leaves alone, resolving from this file (or the bundle) outwards. */
function lazyRequire(): NodeJS.Require {
  const from = typeof __filename === 'string' ? __filename : path.join(process.cwd(), 'index.js');
  return createRequire(from);
}

function errorText(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  // Module-not-found messages list the whole require stack; the first line says enough.
  return msg.split('\n')[0];
}

/** Where the NVIDIA driver library (libcuda) is found, or null. Linux and Windows only. */
export function findCudaDriver(env: NodeJS.ProcessEnv = process.env): string | null {
  if (process.platform === 'win32') {
    const sys = path.join(env.SystemRoot ?? 'C:\\Windows', 'System32', 'nvcuda.dll');
    return existsSync(sys) ? sys : null;
  }
  if (process.platform !== 'linux') return null;
  const dirs = [
    ...(env.LD_LIBRARY_PATH ?? '').split(':').filter((d) => d !== ''),
    '/usr/lib/x86_64-linux-gnu',
    '/usr/lib64',
    '/usr/lib',
    '/usr/local/cuda/lib64',
    '/usr/local/cuda/compat',
    '/usr/lib/wsl/lib',
  ];
  for (const d of dirs) {
    const p = path.join(d, 'libcuda.so.1');
    if (existsSync(p)) return p;
  }
  try {
    // The dynamic loader's cache names every library it can find, in whatever directory.
    if (readFileSync('/etc/ld.so.cache').includes('libcuda.so.1')) return 'libcuda.so.1 (ld.so.cache)';
  } catch {
    // no cache: fall through
  }
  return null;
}

function packageVersion(req: NodeJS.Require, pkg: string): string {
  try {
    return (req(`${pkg}/package.json`) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

class BackendUnavailable extends Error {
  /** What the user can do about it, for explicit requests that must fail loudly. */
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

/** Loads tfjs-node(-gpu) and switches to its 'tensorflow' backend, or throws BackendUnavailable. */
async function tryNative(
  which: NativePackage,
  log: (msg: string) => void,
): Promise<Omit<BackendInfo, 'tried'>> {
  const req = lazyRequire();
  try {
    req.resolve(which.pkg);
  } catch {
    throw new BackendUnavailable(`${which.pkg} not installed`, `install it with: ${which.install}`);
  }
  let cuda: string | null = null;
  if (which.name === 'tensorflow-gpu') {
    cuda = findCudaDriver();
    // Without the driver, libtensorflow's GPU build can still load and quietly compute on the CPU.
    if (cuda === null)
      throw new BackendUnavailable(
        `${which.pkg} installed but no CUDA driver (libcuda) found`,
        'it needs an NVIDIA GPU with its driver, CUDA 11.2 and cuDNN 8.1; otherwise choose tensorflow, wasm or cpu',
      );
  }
  try {
    log(`loading ${which.pkg}`);
    req(which.pkg);
  } catch (e) {
    throw new BackendUnavailable(
      `${which.pkg} failed to load: ${errorText(e)}`,
      `its native libtensorflow did not load; reinstall it (npm rebuild ${which.pkg}) or run: ${which.install}`,
    );
  }
  const ok = await setBackendSafely('tensorflow');
  if (!ok)
    throw new BackendUnavailable(`${which.pkg} loaded but the 'tensorflow' backend did not initialise`);
  const version = packageVersion(req, which.pkg);
  return {
    name: which.name,
    tfBackend: tf.getBackend(),
    version,
    threads: os.cpus().length,
    reason:
      which.name === 'tensorflow-gpu'
        ? `using ${which.pkg} ${version} (CUDA: ${cuda})`
        : `using ${which.pkg} ${version}`,
  };
}

async function setBackendSafely(name: string): Promise<boolean> {
  try {
    const ok = await tf.setBackend(name);
    if (ok) await tf.ready();
    return ok && tf.getBackend() === name;
  } catch {
    return false;
  }
}

let wasmPathsSet: string | undefined;

/**
 * The installed package's own .wasm directory. Emscripten looks next to the running script, which
 * inside an esbuild bundle is the bundle's directory, where the binaries are usually absent.
 */
function installedWasmDir(): string | undefined {
  try {
    const dir = path.join(
      path.dirname(lazyRequire().resolve('@tensorflow/tfjs-backend-wasm/package.json')),
      'dist',
    );
    return existsSync(path.join(dir, 'tfjs-backend-wasm-simd.wasm')) ? dir : undefined;
  } catch {
    return undefined;
  }
}

async function tryWasm(opts: InitBackendOptions): Promise<Omit<BackendInfo, 'tried'>> {
  const wasmDir = opts.wasmDir ?? (tf.findBackend('wasm') == null ? installedWasmDir() : undefined);
  if (wasmDir !== undefined) {
    const prefix = wasmDir.endsWith('/') || wasmDir.endsWith(path.sep) ? wasmDir : wasmDir + path.sep;
    const missing = ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm'].filter(
      (f) => !existsSync(path.join(prefix, f)),
    );
    if (missing.length > 0)
      throw new BackendUnavailable(`wasm files missing in ${prefix}: ${missing.join(', ')}`);
    if (wasmPathsSet !== prefix) {
      try {
        setWasmPaths(prefix);
        wasmPathsSet = prefix;
      } catch (e) {
        // Only possible once the backend has initialised, in which case the paths no longer matter.
        if (tf.findBackend('wasm') == null)
          throw new BackendUnavailable(`setWasmPaths failed: ${errorText(e)}`);
      }
    }
  }
  registerWasmTrainingKernels();
  const wanted = resolveThreads(opts.threads);
  let threadNote = '';
  if (wanted > 1 && tf.findBackend('wasm') == null) {
    try {
      await registerThreadedWasm(wanted, wasmDir);
    } catch (e) {
      // The single-threaded binary still works: say why threads were not used and carry on.
      threadNote = `; threaded binary unavailable (${errorText(e)}), running 1 thread`;
      opts.log?.(`wasm threads: ${errorText(e)}`);
    }
  }
  const ok = await setBackendSafely('wasm');
  if (!ok)
    throw new BackendUnavailable('the wasm backend did not initialise (is the .wasm binary reachable?)');
  const simd = (await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) as boolean;
  let threads = 1;
  try {
    threads = getThreadsCount();
  } catch {
    // reported as 1: the stock Node loader always runs single-threaded
  }
  return {
    name: 'wasm',
    tfBackend: tf.getBackend(),
    version: version_wasm,
    threads,
    reason: `using wasm (${simd ? 'SIMD' : 'no SIMD'}, ${threads} thread${threads === 1 ? '' : 's'}${
      threads !== wanted && threadNote === '' ? `; ${wanted} requested, fixed when wasm first started` : ''
    })${threadNote}`,
  };
}

/**
 * The wasm backend with its convolutions run by ONNX Runtime's native kernels (ort-convs.ts). The
 * wasm side runs one thread: onnxruntime-node's binding refuses views of a shared (threaded) wasm
 * heap, and the native convolutions, with their own pool of `threads`, are nearly all of the work.
 */
async function tryOnnxRuntime(opts: InitBackendOptions): Promise<Omit<BackendInfo, 'tried'>> {
  let ort: { version: string };
  try {
    ort = loadOrt();
  } catch (e) {
    throw new BackendUnavailable(errorText(e), `install it with: npm install ${ORT_PACKAGE}`);
  }
  const wanted = resolveThreads(opts.threads);
  if (tf.findBackend('wasm') != null) {
    let running = 1;
    try {
      running = getThreadsCount();
    } catch {
      // single-threaded loader
    }
    if (running > 1)
      throw new BackendUnavailable(
        `the wasm backend already runs ${running} threads in this process; onnxruntime needs its single-threaded heap`,
      );
  }
  const wasm = await tryWasm({ ...opts, threads: 1 });
  setOrtThreads(wanted);
  registerOrtConvKernels();
  return {
    name: 'onnxruntime',
    tfBackend: wasm.tfBackend,
    version: ort.version,
    threads: wanted,
    reason: `using onnxruntime ${ort.version} for convolutions (${wanted} thread${wanted === 1 ? '' : 's'}), wasm ${version_wasm} (1 thread) for the rest`,
  };
}

async function tryCpu(): Promise<Omit<BackendInfo, 'tried'>> {
  const ok = await setBackendSafely('cpu');
  if (!ok) throw new BackendUnavailable('the cpu backend did not initialise');
  return {
    name: 'cpu',
    tfBackend: tf.getBackend(),
    version: version_cpu,
    threads: 1,
    reason: 'using the pure-JS cpu backend (very slow for conv nets)',
  };
}

async function tryOne(name: BackendName, opts: InitBackendOptions, log: (m: string) => void) {
  switch (name) {
    case 'tensorflow-gpu':
    case 'tensorflow':
      return tryNative(NATIVE[name], log);
    case 'onnxruntime':
      return tryOnnxRuntime(opts);
    case 'wasm':
      unregisterOrtConvKernels();
      return tryWasm(opts);
    case 'cpu':
      return tryCpu();
  }
}

function parsePreference(value: string, source: string): BackendPreference {
  const v = value.trim().toLowerCase();
  if ((BACKEND_PREFERENCES as readonly string[]).includes(v)) return v as BackendPreference;
  throw new Error(`${source}: unknown backend '${value}'; expected one of ${BACKEND_PREFERENCES.join(', ')}`);
}

/**
 * Initialises a backend and makes it tf's current one. With 'auto' (or CONTRASTIVE_LAB_BACKEND set to
 * 'auto'), the first backend that loads wins; an explicit choice that cannot load throws an Error that
 * names the missing package and how to install it.
 */
export async function initBackend(
  pref: BackendPreference,
  opts: InitBackendOptions = {},
): Promise<BackendInfo> {
  const log = opts.log ?? (() => {});
  // Backend-independent: a backward pass that frees each gradient once it is consumed.
  installLeanBackprop();
  let effective = parsePreference(pref, 'initBackend');
  const fromEnv = process.env[BACKEND_ENV_VAR];
  let source = 'requested';
  if (effective === 'auto' && fromEnv !== undefined && fromEnv.trim() !== '') {
    effective = parsePreference(fromEnv, BACKEND_ENV_VAR);
    source = `${BACKEND_ENV_VAR}=${fromEnv.trim()}`;
  }

  if (effective !== 'auto') {
    try {
      const info = await tryOne(effective, opts, log);
      const reason = `${info.reason} (${source})`;
      log(reason);
      return { ...info, reason, tried: [] };
    } catch (e) {
      const why = errorText(e);
      const hint = e instanceof BackendUnavailable && e.hint !== undefined ? `; ${e.hint}` : '';
      throw new Error(`backend '${effective}' is unavailable: ${why}${hint}`);
    }
  }

  const tried: BackendAttempt[] = [];
  for (const name of ['tensorflow-gpu', 'tensorflow', 'onnxruntime', 'wasm', 'cpu'] as const) {
    try {
      const info = await tryOne(name, opts, log);
      const reason = [...tried.map((t) => t.error), info.reason].join('; ');
      log(reason);
      return { ...info, reason, tried };
    } catch (e) {
      const error = errorText(e);
      log(`backend ${name} unavailable: ${error}`);
      tried.push({ name, error });
    }
  }
  throw new Error(
    `no TensorFlow.js backend could be initialised: ${tried.map((t) => `${t.name}: ${t.error}`).join('; ')}`,
  );
}

/** One line for logs and the UI, e.g. "wasm 4.22.0 (tf backend 'wasm', 1 thread): using wasm (SIMD, ...)". */
export function describeBackend(info: BackendInfo): string {
  const threads = `${info.threads} thread${info.threads === 1 ? '' : 's'}`;
  return `${info.name} ${info.version} (tf backend '${info.tfBackend}', ${threads}): ${info.reason}`;
}
