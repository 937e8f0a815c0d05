/**
 * Resolving and validating run configurations.
 *
 * A user writes a partial config (or CLI flags); it is merged over the method's preset and the
 * global defaults, and the result is validated against `schema.json` (the same schema the config
 * editor and `contributes.jsonValidation` use). Errors name the field's path and the reason.
 */
import type { ErrorObject, ValidateFunction } from 'ajv';
import schema from './schema.json';
import type { RunConfig } from './types';

export type DeepPartial<T> = T extends (infer U)[]
  ? U[]
  : T extends object
    ? { [K in keyof T]?: DeepPartial<T[K]> }
    : T;

export type PartialConfig = DeepPartial<RunConfig>;

export interface ConfigIssue {
  /** Dotted path of the field, e.g. `training.epochs`; empty for the root. */
  path: string;
  message: string;
}

export class ConfigError extends Error {
  constructor(readonly issues: ConfigIssue[]) {
    super(`Invalid config:\n${issues.map((i) => `  - ${i.path || '(root)'}: ${i.message}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Defaults shared by every method; a method preset overrides what it needs. */
export const BASE_DEFAULTS: RunConfig = {
  version: 1,
  method: 'simclr-v1',
  params: { temperature: 0.5 },
  seed: 0,
  dataset: {
    kind: 'synthetic',
    trainLimit: 0,
    testLimit: 0,
    syntheticTrain: 5000,
    syntheticTest: 1000,
    syntheticSeed: 1,
    imageSize: 32,
  },
  encoder: { arch: 'convnet', width: 32 },
  head: { hidden: [256], out: 128, outputBn: true },
  augment: {
    size: 0,
    cropScale: [0.2, 1],
    cropRatio: [3 / 4, 4 / 3],
    flip: 0.5,
    colorJitter: { p: 0.8, brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1 },
    grayscale: 0.2,
    blur: { p: 0, sigma: [0.1, 2] },
    solarize: { p: 0, threshold: 0.5 },
  },
  optimizer: {
    kind: 'sgd',
    lr: 0.06,
    lrScaling: 'linear',
    momentum: 0.9,
    weightDecay: 5e-4,
    trustCoefficient: 0.001,
    excludeBiasAndNorm: true,
  },
  schedule: { kind: 'cosine', warmupEpochs: 0 },
  training: { epochs: 10, batchSize: 128, checkpointEvery: 1, keepCheckpoints: 3, logEvery: 1 },
  eval: { knn: { every: 1, k: 200, temperature: 0.1, atStart: true } },
};

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep merge: objects merge key by key, arrays and scalars replace. Inputs are not modified. */
export function deepMerge<T>(base: T, ...overrides: unknown[]): T {
  let out: unknown = structuredClone(base);
  for (const o of overrides) out = mergeTwo(out, o);
  return out as T;
}

function mergeTwo(a: unknown, b: unknown): unknown {
  if (b === undefined) return a;
  if (isPlainObject(a) && isPlainObject(b)) {
    const out: Record<string, unknown> = { ...a };
    for (const [k, v] of Object.entries(b)) out[k] = mergeTwo(a[k], v);
    return out;
  }
  return structuredClone(b);
}

let compiled: ValidateFunction | undefined;

/**
 * The schema's validator, made on first use. Loading ajv and compiling the schema take 130-150 ms,
 * which every importer of this module would otherwise pay when it loads: the extension's bundle
 * among them, inside the extension host's start-up, before activate() (ajv stays bundled; the
 * call below only defers running its code).
 */
function validator(): ValidateFunction {
  if (!compiled) {
    const Ajv = (require('ajv') as typeof import('ajv')).default;
    compiled = new Ajv({ allErrors: true, strict: false }).compile(schema);
  }
  return compiled;
}

function jsonPointerToPath(ptr: string): string {
  return ptr
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .join('.');
}

function describeAjvError(e: ErrorObject, data: unknown): ConfigIssue {
  let path = jsonPointerToPath(e.instancePath);
  let message = e.message ?? 'is invalid';
  const p = e.params as Record<string, unknown>;
  if (e.keyword === 'additionalProperties') {
    path = path ? `${path}.${p.additionalProperty}` : String(p.additionalProperty);
    message = 'unknown field (check the spelling; see the schema for the allowed fields)';
  } else if (e.keyword === 'required') {
    path = path ? `${path}.${p.missingProperty}` : String(p.missingProperty);
    message = 'is required';
  } else if (e.keyword === 'enum') {
    message = `must be one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
  }
  const got = valueAt(data, e.instancePath);
  if (got !== undefined && e.keyword !== 'additionalProperties' && e.keyword !== 'required') {
    message += ` (got ${JSON.stringify(got)})`;
  }
  return { path, message };
}

function valueAt(data: unknown, ptr: string): unknown {
  let cur: unknown = data;
  for (const part of ptr.split('/').slice(1)) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

/** Checks across fields that JSON Schema draft-07 cannot express clearly. */
function semanticIssues(c: RunConfig): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const range = (path: string, r: number[]) => {
    if (r[0] > r[1]) issues.push({ path, message: `lower bound ${r[0]} is above upper bound ${r[1]}` });
  };
  range('augment.cropScale', c.augment.cropScale);
  range('augment.cropRatio', c.augment.cropRatio);
  range('augment.blur.sigma', c.augment.blur.sigma);
  if (c.dataset.kind !== 'synthetic' && c.dataset.kind !== 'fashion-mnist' && !c.dataset.path) {
    issues.push({ path: 'dataset.path', message: `is required for dataset kind '${c.dataset.kind}'` });
  }
  if (c.schedule.warmupEpochs > c.training.epochs) {
    issues.push({
      path: 'schedule.warmupEpochs',
      message: `is longer than training.epochs (${c.schedule.warmupEpochs} > ${c.training.epochs})`,
    });
  }
  return issues;
}

/** Validates a complete config; throws ConfigError listing every problem. */
export function validateConfig(data: unknown): RunConfig {
  const validate = validator();
  if (!validate(data)) {
    throw new ConfigError((validate.errors ?? []).map((e) => describeAjvError(e, data)));
  }
  const c = data as unknown as RunConfig;
  const issues = semanticIssues(c);
  if (issues.length) throw new ConfigError(issues);
  return c;
}

/** Schema check only (no defaults): used for configs as the user wrote them. */
export function schemaIssues(data: unknown): ConfigIssue[] {
  const validate = validator();
  if (validate(data)) return [];
  return (validate.errors ?? []).map((e) => describeAjvError(e, data));
}

export { schema as configSchema };
