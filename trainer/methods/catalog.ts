/**
 * Method metadata and presets, without any TensorFlow.js code: what the config resolver, the CLI's
 * `methods` command and the extension need. Implementations are in `./index.ts`.
 */
import { byolInfo } from './info/byol';
import { clipInfo } from './info/clip';
import { cmcInfo } from './info/cmc';
import { cpcInfo } from './info/cpc';
import { dinoInfo } from './info/dino';
import { instdiscInfo } from './info/instdisc';
import { invaspreadInfo } from './info/invaspread';
import { mocoV1Info } from './info/moco-v1';
import { mocoV2Info } from './info/moco-v2';
import { mocoV3Info } from './info/moco-v3';
import { simclrV1Info } from './info/simclr-v1';
import { simclrV2Info } from './info/simclr-v2';
import { simsiamInfo } from './info/simsiam';
import { swavInfo } from './info/swav';
import type { MethodInfo } from './types';

/** In the order of the papers (the product's method list). */
export const METHOD_INFOS: ReadonlyMap<string, MethodInfo> = new Map(
  [
    instdiscInfo,
    invaspreadInfo,
    cpcInfo,
    cmcInfo,
    mocoV1Info,
    simclrV1Info,
    mocoV2Info,
    simclrV2Info,
    swavInfo,
    byolInfo,
    simsiamInfo,
    mocoV3Info,
    dinoInfo,
    clipInfo,
  ].map((m) => [m.id, m]),
);

export function getMethodInfo(id: string): MethodInfo {
  const m = METHOD_INFOS.get(id);
  if (!m) throw new Error(`Unknown method '${id}'. Known methods: ${[...METHOD_INFOS.keys()].join(', ')}.`);
  return m;
}
