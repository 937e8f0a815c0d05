import { simclrV1 } from './simclr-v1';
import type { Method } from './types';

/** Every method the trainer knows, by id. */
export const METHODS: ReadonlyMap<string, Method> = new Map([[simclrV1.info.id, simclrV1]]);

export function getMethod(id: string): Method {
  const m = METHODS.get(id);
  if (!m) {
    throw new Error(`Unknown method '${id}'. Known methods: ${[...METHODS.keys()].join(', ')}.`);
  }
  return m;
}
