/**
 * Pure edits of a config document, used by the config editor. The document text is the truth:
 * every form edit parses it, changes one path and writes the whole text back in the trainer's
 * own format (`JSON.stringify(c, null, 2)` plus a newline, as `createRunFolder` writes it), so a
 * one-field edit is a one-line diff and undo/redo are ordinary text edits.
 */
import {
  BASE_DEFAULTS,
  ConfigError,
  type ConfigIssue,
  deepMerge,
  schemaIssues,
  validateConfig,
} from '../trainer/config/config';

export type JsonObject = Record<string, unknown>;

export interface ParsedConfig {
  config: JsonObject | null;
  parseError: string | null;
}

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return { line, column: offset - before.lastIndexOf('\n') };
}

/** Parses the document; a failure names the line and column so the user can find it. */
export function parseConfigText(text: string): ParsedConfig {
  if (text.trim() === '') return { config: null, parseError: 'The file is empty.' };
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    // Node 20 reports only an offset, newer versions add "(line L column C)"; give one form.
    const raw = (e as Error).message.replace(/\s*\(line \d+ column \d+\)\s*$/, '');
    const m = /at position (\d+)/.exec(raw);
    if (!m) return { config: null, parseError: `${raw}.` };
    const { line, column } = lineAndColumn(text, Number(m[1]));
    return {
      config: null,
      parseError: `${raw.replace(/\s*in JSON at position \d+/, '')} at line ${line}, column ${column}.`,
    };
  }
  if (!isObject(data)) {
    const what = Array.isArray(data) ? 'an array' : data === null ? 'null' : `a ${typeof data}`;
    return { config: null, parseError: `A config must be a JSON object, but this file holds ${what}.` };
  }
  return { config: data, parseError: null };
}

/** The trainer's format; `eol` keeps a CRLF document CRLF so the edit is not a whole-file diff. */
export function serializeConfig(config: unknown, eol: '\n' | '\r\n' = '\n'): string {
  const text = `${JSON.stringify(config, null, 2)}\n`;
  return eol === '\n' ? text : text.replace(/\n/g, eol);
}

/** Gives, for an object at `parentPath`, the preferred order of its keys (e.g. the schema's). */
export type KeyOrder = (parentPath: readonly string[]) => readonly string[] | undefined;

/**
 * Where a new key goes: before the first existing key that the preferred order puts after it,
 * so a field added from the form lands where the schema (and a fresh run's file) has it.
 */
function insertKey(obj: JsonObject, key: string, value: unknown, order: readonly string[] | undefined) {
  const entries = Object.entries(obj);
  let at = entries.length;
  const rank = order?.indexOf(key) ?? -1;
  if (order && rank >= 0) {
    const i = entries.findIndex(([k]) => order.indexOf(k) > rank);
    if (i >= 0) at = i;
  }
  entries.splice(at, 0, [key, value]);
  // fromEntries defines own properties, so a key like "__proto__" stays plain data.
  return Object.fromEntries(entries);
}

function replaceKey(obj: JsonObject, key: string, value: unknown): JsonObject {
  return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, k === key ? value : v]));
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return `a ${typeof v}`;
}

/**
 * A copy of `root` with `value` at `path`; missing parent objects are created. Existing keys keep
 * their position. Throws when a parent on the path holds a non-object, since replacing it would
 * silently drop what the user wrote there.
 */
export function setAt(
  root: JsonObject,
  path: readonly string[],
  value: unknown,
  keyOrder?: KeyOrder,
): JsonObject {
  if (path.length === 0) throw new Error('An edit needs a path.');
  const step = (node: unknown, depth: number): unknown => {
    const key = path[depth];
    const last = depth === path.length - 1;
    if (Array.isArray(node) && /^(0|[1-9]\d*)$/.test(key) && Number(key) < node.length) {
      const copy = node.slice();
      copy[Number(key)] = last ? value : step(node[Number(key)], depth + 1);
      return copy;
    }
    if (!isObject(node)) {
      const where = path.slice(0, depth).join('.') || '(root)';
      throw new Error(`Cannot set ${path.join('.')}: ${where} is ${describe(node)}, not an object.`);
    }
    const child = last ? value : step(Object.hasOwn(node, key) ? node[key] : {}, depth + 1);
    return Object.hasOwn(node, key)
      ? replaceKey(node, key, child)
      : insertKey(node, key, child, keyOrder?.(path.slice(0, depth)));
  };
  return step(root, 0) as JsonObject;
}

/** A copy of `root` without the key at `path`; a path that is already absent changes nothing. */
export function removeAt(root: JsonObject, path: readonly string[]): JsonObject {
  if (path.length === 0) throw new Error('A removal needs a path.');
  const step = (node: unknown, depth: number): unknown => {
    if (!isObject(node) || !Object.hasOwn(node, path[depth])) return node;
    const key = path[depth];
    if (depth === path.length - 1) return Object.fromEntries(Object.entries(node).filter(([k]) => k !== key));
    const child = step(node[key], depth + 1);
    return child === node[key] ? node : replaceKey(node, key, child);
  };
  return step(root, 0) as JsonObject;
}

interface SchemaNode {
  properties?: Record<string, SchemaNode>;
  $ref?: string;
}

/** Key order taken from a JSON schema's `properties` (following local `$ref`s). */
export function schemaKeyOrder(schema: unknown): KeyOrder {
  const root = schema as SchemaNode & { definitions?: Record<string, SchemaNode> };
  const resolve = (n: SchemaNode | undefined): SchemaNode | undefined => {
    const m = n?.$ref && /^#\/definitions\/(.+)$/.exec(n.$ref);
    return m ? root.definitions?.[m[1]] : n;
  };
  return (parentPath) => {
    let node: SchemaNode | undefined = root;
    for (const k of parentPath) node = resolve(node?.properties?.[k]);
    return node?.properties ? Object.keys(node.properties) : undefined;
  };
}

/**
 * The text after one form edit, or null when the edit changes no value (so re-sending the value a
 * field already has neither reformats a hand-formatted file nor adds an undo step).
 */
export function editedText(
  text: string,
  edit:
    | { type: 'edit'; path: readonly string[]; value: unknown }
    | { type: 'remove'; path: readonly string[] },
  keyOrder?: KeyOrder,
): string | null {
  const { config, parseError } = parseConfigText(text);
  if (!config) throw new Error(`The file is not a valid config, so the form cannot edit it: ${parseError}`);
  const next =
    edit.type === 'edit' ? setAt(config, edit.path, edit.value, keyOrder) : removeAt(config, edit.path);
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  const out = serializeConfig(next, eol);
  return out === serializeConfig(config, eol) ? null : out;
}

/**
 * Everything the trainer would refuse in this document: schema problems first; once the document
 * passes the schema, the cross-field checks (`validateConfig`) on it merged over the defaults, as
 * a run would see it. The form's Start button is enabled only when this is empty.
 */
export function configIssues(
  config: JsonObject,
  defaults: JsonObject = BASE_DEFAULTS as unknown as JsonObject,
) {
  const issues: ConfigIssue[] = schemaIssues(config);
  if (issues.length) return issues;
  try {
    validateConfig(deepMerge(defaults, config));
  } catch (e) {
    if (e instanceof ConfigError) return e.issues;
    // A check that crashes must not take the editor down; it still blocks Start.
    return [{ path: '', message: `could not be checked: ${(e as Error).message}` }];
  }
  return [];
}
