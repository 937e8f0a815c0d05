/**
 * Environment for trainer and tool processes that the extension (or the benchmark) spawns: glibc
 * malloc settings under which freed memory is kept and reused instead of handed back to the kernel.
 *
 * Why: a training step allocates and frees the same large buffers every step (onnxruntime's
 * intermediates, batches, the kNN bank). With glibc's defaults, blocks above its mmap threshold are
 * mapped fresh each time and every page faults in again; on virtual machines like this project's a
 * fault is expensive. Measured here: our ConvNet SimCLR step 314 -> 437 img/s on the onnxruntime
 * backend; PyTorch's own step 4-6x faster under the same settings. glibc reads them only at process
 * start, so they go into the environment of the process being spawned. A value the user set is
 * kept; other C libraries (macOS, Windows, musl) ignore the variable.
 */
export const GLIBC_TUNABLES_VAR = 'GLIBC_TUNABLES';
export const REUSE_FREED_MEMORY =
  'glibc.malloc.mmap_threshold=4294967295:glibc.malloc.trim_threshold=4294967295';

export function mallocEnv(
  env: NodeJS.ProcessEnv = process.env,
  platform = process.platform,
): NodeJS.ProcessEnv {
  if (platform !== 'linux' || (env[GLIBC_TUNABLES_VAR] ?? '') !== '') return {};
  return { [GLIBC_TUNABLES_VAR]: REUSE_FREED_MEMORY };
}
