/**
 * Method metadata and presets, without any TensorFlow.js code: what the config resolver, the CLI's
 * `methods` command and the extension need. Implementations are in `./index.ts`.
 */
import { simclrV1Info } from './info/simclr-v1';
import type { MethodInfo } from './types';

export const METHOD_INFOS: ReadonlyMap<string, MethodInfo> = new Map([[simclrV1Info.id, simclrV1Info]]);

export function getMethodInfo(id: string): MethodInfo {
  const m = METHOD_INFOS.get(id);
  if (!m) throw new Error(`Unknown method '${id}'. Known methods: ${[...METHOD_INFOS.keys()].join(', ')}.`);
  return m;
}
