import { version_core as tfVersion } from '@tensorflow/tfjs-core';

declare const __TRAINER_VERSION__: string | undefined;

/** Trainer version, injected by the bundler; "dev" when running from source. */
export const TRAINER_VERSION = typeof __TRAINER_VERSION__ === 'string' ? __TRAINER_VERSION__ : 'dev';

export function versions(): Record<string, string> {
  return { trainer: TRAINER_VERSION, node: process.versions.node, 'tfjs-core': tfVersion };
}
