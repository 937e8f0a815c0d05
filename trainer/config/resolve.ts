import { getMethodInfo } from '../methods/catalog';
import { BASE_DEFAULTS, deepMerge, type PartialConfig, validateConfig } from './config';
import type { RunConfig } from './types';

export type PresetName = 'laptop' | 'paper';

/**
 * The full config of a run: global defaults, then the method's preset, then what the user gave.
 * Throws ConfigError (naming each bad field) or an unknown-method Error.
 */
export function resolveConfig(user: PartialConfig, preset: PresetName = 'laptop'): RunConfig {
  const methodId = user.method ?? BASE_DEFAULTS.method;
  const info = getMethodInfo(methodId);
  const merged = deepMerge(BASE_DEFAULTS, info.presets[preset], user, { method: methodId });
  return validateConfig(merged);
}
