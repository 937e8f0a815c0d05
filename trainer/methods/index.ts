import { byol } from './byol';
import { mocoV1, mocoV2 } from './moco';
import { simclrV1 } from './simclr-v1';
import { simsiam } from './simsiam';
import type { Method } from './types';

/** Every method the trainer can train, by id (metadata alone: ./catalog.ts). */
export const METHODS: ReadonlyMap<string, Method> = new Map(
  [mocoV1, simclrV1, mocoV2, byol, simsiam].map((m) => [m.info.id, m]),
);

export function getMethod(id: string): Method {
  const m = METHODS.get(id);
  if (!m) {
    throw new Error(`Unknown method '${id}'. Known methods: ${[...METHODS.keys()].join(', ')}.`);
  }
  return m;
}
