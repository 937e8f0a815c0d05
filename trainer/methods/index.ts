import { byol } from './byol';
import { clip } from './clip';
import { cmc } from './cmc';
import { cpc } from './cpc';
import { dino } from './dino';
import { instdisc } from './instdisc';
import { invaspread } from './invaspread';
import { mocoV1, mocoV2 } from './moco';
import { mocoV3 } from './moco-v3';
import { simclrV1 } from './simclr-v1';
import { simclrV2 } from './simclr-v2';
import { simsiam } from './simsiam';
import { swav } from './swav';
import type { Method } from './types';

/** Every method the trainer can train, by id (metadata alone: ./catalog.ts). */
export const METHODS: ReadonlyMap<string, Method> = new Map(
  [
    instdisc,
    invaspread,
    cpc,
    cmc,
    mocoV1,
    simclrV1,
    mocoV2,
    simclrV2,
    swav,
    byol,
    simsiam,
    mocoV3,
    dino,
    clip,
  ].map((m) => [m.info.id, m]),
);

export function getMethod(id: string): Method {
  const m = METHODS.get(id);
  if (!m) {
    throw new Error(`Unknown method '${id}'. Known methods: ${[...METHODS.keys()].join(', ')}.`);
  }
  return m;
}
