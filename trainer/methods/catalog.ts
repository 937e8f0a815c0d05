/**
 * Method metadata and presets, without any TensorFlow.js code: what the config resolver, the CLI's
 * `methods` command and the extension need. Implementations are in `./index.ts`.
 */
import { byolInfo } from './info/byol';
import { mocoV1Info } from './info/moco-v1';
import { mocoV2Info } from './info/moco-v2';
import { simclrV1Info } from './info/simclr-v1';
import { simsiamInfo } from './info/simsiam';
import type { MethodInfo } from './types';

/** In the order of the papers (the product's method list). */
export const METHOD_INFOS: ReadonlyMap<string, MethodInfo> = new Map(
  [mocoV1Info, simclrV1Info, mocoV2Info, byolInfo, simsiamInfo].map((m) => [m.id, m]),
);

export function getMethodInfo(id: string): MethodInfo {
  const m = METHOD_INFOS.get(id);
  if (!m) throw new Error(`Unknown method '${id}'. Known methods: ${[...METHOD_INFOS.keys()].join(', ')}.`);
  return m;
}
