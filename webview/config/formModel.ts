/**
 * The config form as data: which fields the schema has, in which group, what each holds, how a
 * typed text becomes a value, and which validation message belongs under which field. No DOM, so
 * it is tested in Node and the webview only draws it.
 */
import type { ConfigIssue } from './messages';

export type FieldKind = 'number' | 'integer' | 'boolean' | 'enum' | 'string' | 'number-pair' | 'int-array';

export interface FormField {
  /** Dotted path, e.g. `training.epochs`; also the key of the field's element in the webview. */
  id: string;
  path: string[];
  label: string;
  /** Heading for fields of a nested object inside the group (e.g. "Color jitter"), else null. */
  subgroup: string | null;
  kind: FieldKind;
  /** What the trainer will use: the document's value, else the default (see `source`). */
  value: unknown;
  /** `config`: the document holds it; `default`: absent, `value` is the default; `none`: neither. */
  source: 'config' | 'default' | 'none';
  required: boolean;
  /** Enum choices. */
  options: string[];
  /** Bounds of the value, or of each item for the array kinds. */
  min?: number;
  max?: number;
  exclusiveMin: boolean;
  exclusiveMax: boolean;
  maxItems?: number;
  unit: string | null;
  /** "What this does", from the schema. */
  description: string;
}

export interface FormGroup {
  id: string;
  title: string;
  fields: FormField[];
}

export interface FormModel {
  groups: FormGroup[];
  fields: FormField[];
  /** Dotted paths of every property the schema knows, objects included. */
  knownPaths: ReadonlySet<string>;
}

type JsonObject = Record<string, unknown>;

interface SchemaNode {
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  description?: string;
  properties?: Record<string, SchemaNode>;
  required?: string[];
  items?: SchemaNode;
  minItems?: number;
  maxItems?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  $ref?: string;
}

interface RootSchema extends SchemaNode {
  definitions?: Record<string, SchemaNode>;
}

/** Groups in the order a researcher reads a recipe; each owns the schema subtrees under `roots`. */
const GROUPS: { id: string; title: string; roots: string[][] }[] = [
  { id: 'method', title: 'Method', roots: [['method'], ['params']] },
  { id: 'dataset', title: 'Dataset', roots: [['dataset']] },
  { id: 'encoder', title: 'Encoder', roots: [['encoder']] },
  { id: 'head', title: 'Projection head', roots: [['head']] },
  { id: 'augment', title: 'Augmentations', roots: [['augment']] },
  { id: 'optimizer', title: 'Optimizer', roots: [['optimizer']] },
  { id: 'schedule', title: 'Schedule', roots: [['schedule']] },
  { id: 'training', title: 'Training', roots: [['training'], ['seed']] },
  { id: 'eval', title: 'Evaluation (kNN)', roots: [['eval', 'knn']] },
];
/** Schema fields no group claims still get a form, so a schema addition is never invisible. */
const OTHER_GROUP = { id: 'other', title: 'Other' };
/** Bookkeeping keys a researcher never edits in the form. */
const HIDDEN = new Set(['$schema', 'version']);

const WORDS: Record<string, string> = { lr: 'LR', bn: 'BN', knn: 'kNN' };

/** `warmupEpochs` → "Warmup epochs", `lrScaling` → "LR scaling", `p` → "Probability". */
export function humanize(key: string): string {
  if (key === 'p') return 'Probability';
  if (key.length === 1) return key;
  const words = key
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .split(/[\s_-]+/)
    .filter(Boolean)
    .map((w) => WORDS[w.toLowerCase()] ?? w.toLowerCase());
  const first = words[0];
  words[0] = first === first.toLowerCase() ? first[0].toUpperCase() + first.slice(1) : first;
  return words.join(' ');
}

/**
 * The unit a researcher thinks in, read off the key and the schema's wording; rules run in order
 * because "every this many epochs" must win over a later "images" or "pixels".
 */
const UNIT_RULES: [(key: string, desc: string, ref: string) => boolean, string][] = [
  [(_k, d, ref) => ref === 'probability' || /^probability\b/i.test(d), 'probability'],
  [(_k, d) => /every this many epochs/i.test(d), 'epochs'],
  [(_k, d) => /every this many steps/i.test(d), 'steps'],
  [(k) => /(^e|E)pochs$/.test(k), 'epochs'],
  [(k) => k === 'batchSize', 'images / step'],
  // "in pixels", not any mention: solarize's threshold talks about pixels but is an intensity.
  [(_k, d) => /\bin pixels\b/i.test(d), 'px'],
  [(_k, d) => /\bimages\b/i.test(d), 'images'],
  [(_k, d) => /\bchannels\b/i.test(d), 'channels'],
  [(_k, d) => /fraction of a full turn/i.test(d), 'turns'],
  [(_k, d) => /fraction of the image/i.test(d), 'area fraction'],
  [(_k, d) => /aspect ratio/i.test(d), 'w / h'],
  [(_k, d) => /\bneighbours\b/i.test(d), 'neighbours'],
  [(_k, d) => /\bcheckpoints\b/i.test(d) && /^keep/i.test(d), 'checkpoints'],
  [(_k, d) => /\blayer widths\b/i.test(d), 'units'],
  [(_k, d) => /\bdimension\b/i.test(d), 'dims'],
];

export function unitFor(key: string, description: string, ref = ''): string | null {
  for (const [test, unit] of UNIT_RULES) if (test(key, description, ref)) return unit;
  return null;
}

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The value at `path`, counting only own properties (so `constructor` is never "found"). */
export function valueAt(data: unknown, path: readonly string[]): unknown {
  let cur = data;
  for (const k of path) {
    if (!isObject(cur) || !Object.hasOwn(cur, k)) return undefined;
    cur = cur[k];
  }
  return cur;
}

function refName(node: SchemaNode): string {
  return /^#\/definitions\/(.+)$/.exec(node.$ref ?? '')?.[1] ?? '';
}

/** A `$ref`'s target with the referring node's own keywords on top (its description wins). */
function resolveNode(root: RootSchema, node: SchemaNode): SchemaNode {
  const name = refName(node);
  const target = name ? root.definitions?.[name] : undefined;
  if (!target) return node;
  const { $ref: _ref, ...own } = node;
  return { ...resolveNode(root, target), ...own };
}

function typeOf(node: SchemaNode): string | undefined {
  return Array.isArray(node.type) ? node.type.find((t) => t !== 'null') : node.type;
}

function kindOf(node: SchemaNode): FieldKind | null {
  if (node.enum) return 'enum';
  const t = typeOf(node);
  if (t === 'boolean' || t === 'integer' || t === 'number' || t === 'string') return t;
  if (t === 'array' && node.items) {
    const it = typeOf(node.items);
    if (it === 'integer') return 'int-array';
    if (it === 'number' && node.minItems === 2 && node.maxItems === 2) return 'number-pair';
  }
  return null;
}

function bounds(node: SchemaNode): Pick<FormField, 'min' | 'max' | 'exclusiveMin' | 'exclusiveMax'> {
  const n = node.items ?? node;
  return {
    min: n.exclusiveMinimum ?? n.minimum,
    max: n.exclusiveMaximum ?? n.maximum,
    exclusiveMin: n.exclusiveMinimum !== undefined,
    exclusiveMax: n.exclusiveMaximum !== undefined,
  };
}

function groupOf(path: string[]): { group: string; root: string[] } {
  for (const g of GROUPS) {
    for (const root of g.roots) {
      if (root.every((k, i) => path[i] === k)) return { group: g.id, root };
    }
  }
  // Unclaimed fields keep their whole parent path as the heading: "Level" alone says nothing.
  return { group: OTHER_GROUP.id, root: [] };
}

/**
 * Builds the form for `config` (null when the document does not parse: every field then shows
 * its default). `defaults` is what the trainer falls back to, e.g. BASE_DEFAULTS.
 */
export function buildFormModel(
  schema: unknown,
  config: JsonObject | null,
  defaults: JsonObject,
  /** The method's own `params` keys: others are shown only when the document sets them. */
  paramKeys?: readonly string[],
): FormModel {
  const root = schema as RootSchema;
  const knownPaths = new Set<string>();
  const leaves: { field: FormField; root: string[] }[] = [];

  const walk = (node: SchemaNode, path: string[], required: boolean) => {
    const n = resolveNode(root, node);
    const key = path[path.length - 1];
    if (n.properties && typeOf(n) !== 'array') {
      for (const [k, child] of Object.entries(n.properties)) {
        if (path.length === 0 && HIDDEN.has(k)) continue;
        const childPath = [...path, k];
        knownPaths.add(childPath.join('.'));
        walk(child, childPath, n.required?.includes(k) ?? false);
      }
      return;
    }
    const kind = kindOf(n);
    if (!kind || n.const !== undefined) return;
    const inDoc = valueAt(config, path);
    if (paramKeys && path[0] === 'params' && !paramKeys.includes(path[1]) && inDoc === undefined) return;
    const dflt = valueAt(defaults, path);
    const description = n.description ?? '';
    const { root: groupRoot } = groupOf(path);
    const between = path.slice(groupRoot.length, -1);
    leaves.push({
      root: groupRoot,
      field: {
        id: path.join('.'),
        path,
        label: humanize(key),
        subgroup: between.length ? between.map(humanize).join(' › ') : null,
        kind,
        value: inDoc !== undefined ? inDoc : dflt,
        source: inDoc !== undefined ? 'config' : dflt !== undefined ? 'default' : 'none',
        required,
        options: (n.enum ?? []).map(String),
        ...bounds(n),
        maxItems: kind === 'int-array' ? n.maxItems : undefined,
        unit: unitFor(key, description, refName(node)),
        description,
      },
    });
  };
  walk(root, [], true);

  const groups: FormGroup[] = [...GROUPS, OTHER_GROUP].map((g) => ({ id: g.id, title: g.title, fields: [] }));
  const byId = new Map(groups.map((g) => [g.id, g]));
  // Within a group, fields follow the order of the group's roots, then the schema's order.
  const rootRank = (path: string[]) => {
    const g = GROUPS.find((x) => x.id === groupOf(path).group);
    return g ? g.roots.findIndex((r) => r.every((k, i) => path[i] === k)) : 0;
  };
  const ordered = leaves
    .map((l, i) => ({ ...l, i }))
    .sort((a, b) => rootRank(a.field.path) - rootRank(b.field.path) || a.i - b.i);
  for (const { field } of ordered) byId.get(groupOf(field.path).group)!.fields.push(field);
  const nonEmpty = groups.filter((g) => g.fields.length > 0);
  return { groups: nonEmpty, fields: nonEmpty.flatMap((g) => g.fields), knownPaths };
}

// ---- values as text ----

/** The text an input shows for `value`; a wrongly typed value shows as JSON so it is visible. */
export function formatValue(field: FormField, value: unknown): string {
  if (value === undefined) return '';
  if (field.kind === 'number-pair' || field.kind === 'int-array') {
    if (Array.isArray(value) && value.every((v) => typeof v === 'number')) return value.join(', ');
  } else if (field.kind === 'number' || field.kind === 'integer') {
    if (typeof value === 'number') return String(value);
  } else if (typeof value === 'string' && (field.kind === 'string' || field.kind === 'enum')) {
    return value;
  }
  return JSON.stringify(value);
}

/** Interval notation for the bounds ("(0, 10]", "≥ 1"), with the item limit for lists. */
export function rangeText(field: FormField): string | null {
  const { min, max, exclusiveMin, exclusiveMax } = field;
  let r: string | null = null;
  if (min !== undefined && max !== undefined) {
    r = `${exclusiveMin ? '(' : '['}${min}, ${max}${exclusiveMax ? ')' : ']'}`;
  } else if (min !== undefined) {
    r = `${exclusiveMin ? '>' : '≥'} ${min}`;
  } else if (max !== undefined) {
    r = `${exclusiveMax ? '<' : '≤'} ${max}`;
  }
  if (field.kind === 'int-array') {
    const parts = [r && `each ${r}`, field.maxItems !== undefined && `at most ${field.maxItems}`];
    return parts.filter(Boolean).join(', ') || null;
  }
  if (field.kind === 'number-pair' && r)
    return `low, high ${r.startsWith('[') || r.startsWith('(') ? 'in ' : ''}${r}`;
  return r;
}

export type Coerced =
  | { ok: true; value: unknown }
  | { ok: true; remove: true }
  | { ok: false; error: string };

// JSON's number syntax, plus a leading "+" or "." that people type; no hex, no "Infinity".
const NUMBER_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?$/i;

function parseNumber(s: string, integer: boolean): number | string {
  if (!NUMBER_RE.test(s)) return `"${s}" is not a number.`;
  const v = Number(s);
  if (!Number.isFinite(v)) return `${s} is too large.`;
  if (integer && !Number.isInteger(v)) return `${s} is not a whole number.`;
  if (integer && !Number.isSafeInteger(v)) return `${s} is too large.`;
  return v;
}

function parseList(text: string, integer: boolean): number[] | string {
  const body = text.trim().replace(/^\[/, '').replace(/\]$/, '').trim();
  if (body === '') return [];
  const out: number[] = [];
  for (const part of body.split(/\s*[,;\s]\s*/)) {
    const v = parseNumber(part, integer);
    if (typeof v === 'string') return v;
    out.push(v);
  }
  return out;
}

/**
 * Turns what the user typed into a value of the field's type, or says why it cannot. Range checks
 * are left to the schema in the extension host: a typed value out of range is a real edit whose
 * message comes back under the field, while a value of the wrong type never reaches the document.
 */
export function coerceInput(field: FormField, text: string): Coerced {
  const t = text.trim();
  const fallback = field.source === 'default' ? ` (the default is ${formatValue(field, field.value)})` : '';
  switch (field.kind) {
    case 'number':
    case 'integer': {
      if (t === '')
        return { ok: false, error: `Enter a ${field.kind === 'integer' ? 'whole ' : ''}number${fallback}.` };
      const v = parseNumber(t, field.kind === 'integer');
      return typeof v === 'string' ? { ok: false, error: v } : { ok: true, value: v };
    }
    case 'boolean':
      if (/^(true|false)$/i.test(t)) return { ok: true, value: t.toLowerCase() === 'true' };
      return { ok: false, error: 'Enter true or false.' };
    case 'enum':
      if (field.options.includes(t)) return { ok: true, value: t };
      return { ok: false, error: `Choose one of ${field.options.join(', ')}.` };
    case 'string':
      if (text !== '') return { ok: true, value: text };
      return field.required ? { ok: false, error: 'Enter a value.' } : { ok: true, remove: true };
    case 'number-pair': {
      const v = parseList(t, false);
      if (typeof v === 'string') return { ok: false, error: v };
      if (v.length !== 2) return { ok: false, error: 'Enter two numbers, low and high, e.g. "0.2, 1".' };
      return { ok: true, value: v };
    }
    case 'int-array': {
      const v = parseList(t, true);
      return typeof v === 'string' ? { ok: false, error: v } : { ok: true, value: v };
    }
  }
}

// ---- issues ----

export interface GeneralIssue extends ConfigIssue {
  /** The path holds a key the schema does not know, so the form can offer to delete it. */
  removable: boolean;
}

export interface MappedIssues {
  byField: Map<string, string[]>;
  general: GeneralIssue[];
}

/**
 * Puts each issue under the field it is about: the field whose path is the longest prefix of the
 * issue's (an item of a list, `augment.cropScale.0`, belongs to the list, named by its position).
 * Issues about no field (the root, a whole object, an unknown key) go to the summary.
 */
export function mapIssues(model: FormModel, issues: readonly ConfigIssue[], config: unknown): MappedIssues {
  const ids = new Set(model.fields.map((f) => f.id));
  const byField = new Map<string, string[]>();
  const general: GeneralIssue[] = [];
  for (const issue of issues) {
    const parts = issue.path ? issue.path.split('.') : [];
    let n = parts.length;
    while (n > 0 && !ids.has(parts.slice(0, n).join('.'))) n--;
    if (n === 0) {
      const removable =
        parts.length > 0 && !model.knownPaths.has(issue.path) && valueAt(config, parts) !== undefined;
      general.push({ ...issue, removable });
      continue;
    }
    const id = parts.slice(0, n).join('.');
    const rest = parts.slice(n);
    const item = rest.length === 1 && /^\d+$/.test(rest[0]) ? `item ${Number(rest[0]) + 1}: ` : '';
    const where = rest.length && !item ? `${rest.join('.')}: ` : '';
    const list = byField.get(id) ?? [];
    list.push(`${item}${where}${issue.message}`);
    byField.set(id, list);
  }
  return { byField, general };
}
