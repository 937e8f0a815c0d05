import * as assert from 'node:assert/strict';
import {
  configIssues,
  editedText,
  parseConfigText,
  removeAt,
  schemaKeyOrder,
  serializeConfig,
  setAt,
} from '../../extension/configEdit';
import { BASE_DEFAULTS, configSchema, schemaIssues } from '../../trainer/config/config';
import {
  buildFormModel,
  type Coerced,
  coerceInput,
  type FormField,
  type FormModel,
  formatValue,
  humanize,
  mapIssues,
  rangeText,
} from '../../webview/config/formModel';

const defaults = BASE_DEFAULTS as unknown as Record<string, unknown>;
const full = () => structuredClone(defaults);

function field(model: FormModel, id: string): FormField {
  const f = model.fields.find((x) => x.id === id);
  assert.ok(f, `no field ${id}; have ${model.fields.map((x) => x.id).join(', ')}`);
  return f;
}

function value(c: Coerced): unknown {
  assert.ok(c.ok && 'value' in c, `expected a value, got ${JSON.stringify(c)}`);
  return c.value;
}

function error(c: Coerced): string {
  assert.ok(!c.ok, `expected an error, got ${JSON.stringify(c)}`);
  return c.error;
}

describe('config editor: form model', () => {
  const model = buildFormModel(configSchema, full(), defaults);

  it('groups the real schema in reading order, each field in its group', () => {
    assert.deepEqual(
      model.groups.map((g) => g.title),
      [
        'Method',
        'Dataset',
        'Encoder',
        'Projection head',
        'Augmentations',
        'Optimizer',
        'Schedule',
        'Training',
        'Evaluation (kNN)',
      ],
    );
    const ids = (title: string) => model.groups.find((g) => g.title === title)!.fields.map((f) => f.id);
    // Every params key of the schema without a method filter...
    assert.ok(ids('Method').includes('params.queueSize'));
    // ...only the method's own (SimCLR: temperature) with one, plus any key the document sets.
    const simclr = buildFormModel(configSchema, full(), defaults, ['temperature']);
    const idsOf = (m: typeof simclr, title: string) =>
      m.groups.find((g) => g.title === title)!.fields.map((f) => f.id);
    assert.deepEqual(idsOf(simclr, 'Method'), ['method', 'params.temperature']);
    const withQueue = buildFormModel(
      configSchema,
      { ...full(), params: { temperature: 0.5, queueSize: 64 } },
      defaults,
      ['temperature'],
    );
    assert.deepEqual(idsOf(withQueue, 'Method'), ['method', 'params.temperature', 'params.queueSize']);
    assert.deepEqual(ids('Evaluation (kNN)'), [
      'eval.knn.every',
      'eval.knn.k',
      'eval.knn.temperature',
      'eval.knn.atStart',
    ]);
    assert.equal(ids('Training').at(-1), 'seed');
    assert.ok(ids('Augmentations').includes('augment.colorJitter.hue'));
    // Bookkeeping keys are not form fields.
    assert.ok(!model.fields.some((f) => f.id === 'version' || f.id === '$schema'));
  });

  it('gives each field the kind its schema implies', () => {
    const kinds: [string, string][] = [
      ['method', 'enum'],
      ['params.temperature', 'number'],
      ['training.epochs', 'integer'],
      ['head.outputBn', 'boolean'],
      ['dataset.path', 'string'],
      ['augment.cropScale', 'number-pair'], // through $ref range01
      ['augment.cropRatio', 'number-pair'],
      ['augment.blur.sigma', 'number-pair'],
      ['head.hidden', 'int-array'],
      ['augment.flip', 'number'], // through $ref probability
      ['optimizer.lrScaling', 'enum'],
    ];
    for (const [id, kind] of kinds) assert.equal(field(model, id).kind, kind, id);
    assert.deepEqual(field(model, 'optimizer.kind').options, ['sgd', 'lars', 'adamw']);
  });

  it('labels, subgroups, units and the description come from keys and the schema', () => {
    const hue = field(model, 'augment.colorJitter.hue');
    assert.equal(hue.subgroup, 'Color jitter');
    assert.equal(hue.unit, 'turns');
    assert.match(hue.description, /fraction of a full turn/);
    assert.equal(field(model, 'augment.colorJitter.p').label, 'Probability');
    assert.equal(field(model, 'augment.colorJitter.p').unit, 'probability');
    assert.equal(field(model, 'augment.flip').description, 'Probability of a horizontal flip.');
    assert.equal(field(model, 'training.epochs').subgroup, null);
    const units: [string, string][] = [
      ['training.epochs', 'epochs'],
      ['schedule.warmupEpochs', 'epochs'],
      ['training.checkpointEvery', 'epochs'],
      ['eval.knn.every', 'epochs'],
      ['training.logEvery', 'steps'],
      ['dataset.imageSize', 'px'],
      ['augment.size', 'px'],
      ['training.batchSize', 'images / step'],
      ['dataset.trainLimit', 'images'],
      ['encoder.width', 'channels'],
    ];
    for (const [id, unit] of units) assert.equal(field(model, id).unit, unit, id);
    assert.equal(field(model, 'optimizer.momentum').unit, null);
    // Mentions pixels but is an intensity, not a size.
    assert.equal(field(model, 'augment.solarize.threshold').unit, null);
    assert.equal(field(model, 'augment.blur.sigma').unit, 'px');
    assert.equal(humanize('lrScaling'), 'LR scaling');
    assert.equal(humanize('outputBn'), 'Output BN');
    assert.equal(humanize('warmupEpochs'), 'Warmup epochs');
  });

  it('takes bounds from the schema, exclusive ones marked', () => {
    const epochs = field(model, 'training.epochs');
    assert.equal(epochs.min, 1);
    assert.equal(epochs.max, 100000);
    assert.equal(epochs.exclusiveMin, false);
    assert.equal(rangeText(epochs), '[1, 100000]');
    const tau = field(model, 'params.temperature');
    assert.equal(tau.min, 0);
    assert.equal(tau.exclusiveMin, true);
    assert.equal(rangeText(tau), '(0, 10]');
    // Array kinds carry their items' bounds, resolved through $ref.
    const crop = field(model, 'augment.cropScale');
    assert.deepEqual([crop.min, crop.max, crop.exclusiveMin], [0, 1, true]);
    assert.equal(rangeText(crop), 'low, high in (0, 1]');
    assert.equal(rangeText(field(model, 'augment.cropRatio')), 'low, high > 0');
    assert.equal(rangeText(field(model, 'head.hidden')), 'each [1, 16384], at most 4');
    assert.equal(rangeText(field(model, 'training.keepCheckpoints')), '≥ 0');
  });

  it('shows absent fields with their default, marked, and present ones as written', () => {
    const partial = { version: 1, method: 'simclr-v1', training: { epochs: 3 }, augment: { flip: 0 } };
    const m = buildFormModel(configSchema, partial, defaults);
    assert.equal(field(m, 'training.epochs').value, 3);
    assert.equal(field(m, 'training.epochs').source, 'config');
    assert.equal(field(m, 'training.batchSize').value, 128);
    assert.equal(field(m, 'training.batchSize').source, 'default');
    // A falsy value that is present is not a default.
    assert.equal(field(m, 'augment.flip').value, 0);
    assert.equal(field(m, 'augment.flip').source, 'config');
    assert.equal(field(m, 'dataset.path').source, 'none');
    assert.equal(field(m, 'dataset.path').value, undefined);
    // Without a parsed document every field shows its default.
    const none = buildFormModel(configSchema, null, defaults);
    assert.ok(none.fields.every((f) => f.source !== 'config'));
    assert.ok(field(model, 'training.epochs').source === 'config');
  });

  it('gives schema fields no group claims a form of their own, through $ref chains', () => {
    const schema = {
      type: 'object',
      properties: {
        training: { type: 'object', properties: { epochs: { $ref: '#/definitions/count' } } },
        logging: {
          type: 'object',
          properties: { level: { enum: ['info', 'debug'], description: 'How much.' } },
        },
        blob: { type: 'object' },
      },
      definitions: { count: { $ref: '#/definitions/positive' }, positive: { type: 'integer', minimum: 1 } },
    };
    const m = buildFormModel(schema, {}, {});
    assert.deepEqual(
      m.groups.map((g) => [g.title, g.fields.map((f) => `${f.id}:${f.kind}:${f.subgroup}`)]),
      [
        ['Training', ['training.epochs:integer:null']],
        ['Other', ['logging.level:enum:Logging']],
      ],
    );
    assert.equal(field(m, 'training.epochs').min, 1);
    assert.ok(m.knownPaths.has('blob'));
  });

  it('formats values for the inputs, wrongly typed ones as JSON', () => {
    assert.equal(formatValue(field(model, 'augment.cropScale'), [0.2, 1]), '0.2, 1');
    assert.equal(formatValue(field(model, 'head.hidden'), []), '');
    assert.equal(formatValue(field(model, 'optimizer.weightDecay'), 5e-4), '0.0005');
    assert.equal(formatValue(field(model, 'training.batchSize'), 'big'), '"big"');
  });
});

describe('config editor: coerceInput', () => {
  const model = buildFormModel(configSchema, full(), defaults);
  const f = (id: string) => field(model, id);

  it('turns typed numbers into numbers and rejects what is not one', () => {
    assert.equal(value(coerceInput(f('params.temperature'), ' 0.1 ')), 0.1);
    assert.equal(value(coerceInput(f('optimizer.weightDecay'), '1e-6')), 1e-6);
    assert.equal(value(coerceInput(f('params.temperature'), '.5')), 0.5);
    assert.match(error(coerceInput(f('params.temperature'), 'abc')), /"abc" is not a number/);
    assert.match(error(coerceInput(f('params.temperature'), '0x10')), /not a number/);
    assert.match(error(coerceInput(f('params.temperature'), 'Infinity')), /not a number/);
    assert.match(error(coerceInput(f('params.temperature'), '1e999')), /too large/);
    assert.match(error(coerceInput(f('params.temperature'), '')), /Enter a number/);
  });

  it('requires whole numbers for integer fields and leaves ranges to the schema', () => {
    assert.equal(value(coerceInput(f('training.epochs'), '1e3')), 1000);
    assert.match(error(coerceInput(f('training.epochs'), '1.5')), /not a whole number/);
    // Out of range but well typed: it reaches the document and the schema reports it there.
    assert.equal(value(coerceInput(f('training.epochs'), '0')), 0);
    assert.equal(value(coerceInput(f('training.epochs'), '-3')), -3);
  });

  it('parses pairs and integer lists', () => {
    assert.deepEqual(value(coerceInput(f('augment.cropScale'), '0.08, 1')), [0.08, 1]);
    assert.deepEqual(value(coerceInput(f('augment.cropScale'), '[0.08 1]')), [0.08, 1]);
    assert.match(error(coerceInput(f('augment.cropScale'), '0.08')), /two numbers/);
    assert.match(error(coerceInput(f('augment.cropScale'), '0.1, x')), /"x" is not a number/);
    assert.deepEqual(value(coerceInput(f('head.hidden'), '512, 512')), [512, 512]);
    assert.deepEqual(value(coerceInput(f('head.hidden'), '')), []);
    assert.match(error(coerceInput(f('head.hidden'), '512, 1.5')), /not a whole number/);
  });

  it('checks enums and booleans; an optional string emptied means remove', () => {
    assert.equal(value(coerceInput(f('optimizer.kind'), 'lars')), 'lars');
    assert.match(error(coerceInput(f('optimizer.kind'), 'adam')), /one of sgd, lars/);
    assert.equal(value(coerceInput(f('head.outputBn'), 'False')), false);
    assert.match(error(coerceInput(f('head.outputBn'), 'yes')), /true or false/);
    assert.equal(value(coerceInput(f('dataset.path'), '/data/cifar')), '/data/cifar');
    assert.deepEqual(coerceInput(f('dataset.path'), ''), { ok: true, remove: true });
  });
});

describe('config editor: issues under their fields', () => {
  it('maps real schema issues to fields, list items by position, the rest to the summary', () => {
    const c = full();
    (c.training as Record<string, unknown>).epochs = 0;
    (c.augment as Record<string, unknown>).cropScale = [0, 1];
    (c.params as Record<string, unknown>).tau = 0.2;
    c.head = 5;
    const model = buildFormModel(configSchema, c, defaults);
    const issues = schemaIssues(c);
    const { byField, general } = mapIssues(model, issues, c);
    assert.match(byField.get('training.epochs')!.join(), /must be >= 1/);
    assert.match(byField.get('augment.cropScale')!.join(), /^item 1: must be > 0/);
    const tau = general.find((i) => i.path === 'params.tau');
    assert.ok(tau, JSON.stringify(general));
    assert.equal(tau.removable, true);
    // `head` is a known object with a wrong type: summarised, but not offered for deletion.
    const head = general.find((i) => i.path === 'head');
    assert.ok(head, JSON.stringify(general));
    assert.equal(head.removable, false);
    assert.equal([...byField.values()].flat().length + general.length, issues.length);
  });

  it('puts cross-field and required-field issues under the field they name', () => {
    const model = buildFormModel(configSchema, full(), defaults);
    const { byField, general } = mapIssues(
      model,
      [
        { path: 'schedule.warmupEpochs', message: 'is longer than training.epochs' },
        { path: 'seed', message: 'is required' },
        { path: '', message: 'must be object' },
      ],
      full(),
    );
    assert.deepEqual(byField.get('schedule.warmupEpochs'), ['is longer than training.epochs']);
    assert.deepEqual(byField.get('seed'), ['is required']);
    assert.deepEqual(general, [{ path: '', message: 'must be object', removable: false }]);
  });
});

describe('config editor: document edits', () => {
  const order = schemaKeyOrder(configSchema);

  it('writes the trainer format, so an edit of a fresh run config is a one-line diff', () => {
    const before = serializeConfig(BASE_DEFAULTS);
    assert.equal(before, `${JSON.stringify(BASE_DEFAULTS, null, 2)}\n`);
    const after = editedText(before, { type: 'edit', path: ['training', 'epochs'], value: 20 }, order)!;
    const a = before.split('\n');
    const b = after.split('\n');
    assert.equal(a.length, b.length);
    const changed = a.flatMap((line, i) => (line === b[i] ? [] : [[line, b[i]]]));
    assert.deepEqual(changed, [['    "epochs": 10,', '    "epochs": 20,']]);
  });

  it('preserves key order, including keys in an order the schema does not use', () => {
    const text =
      '{\n  "seed": 1,\n  "method": "simclr-v1",\n  "training": {\n    "logEvery": 5,\n    "epochs": 2\n  }\n}\n';
    const out = editedText(text, { type: 'edit', path: ['training', 'epochs'], value: 3 }, order)!;
    const parsed = JSON.parse(out);
    assert.deepEqual(Object.keys(parsed), ['seed', 'method', 'training']);
    assert.deepEqual(Object.keys(parsed.training), ['logEvery', 'epochs']);
    assert.equal(parsed.training.epochs, 3);
    assert.ok(out.endsWith('}\n') && !out.endsWith('\n\n'));
  });

  it('creates missing parents and puts new keys where the schema has them', () => {
    const root = { method: 'simclr-v1', training: { epochs: 2 } };
    const out = setAt(root, ['eval', 'knn', 'k'], 50, order);
    assert.deepEqual(out.eval, { knn: { k: 50 } });
    assert.deepEqual(Object.keys(out), ['method', 'training', 'eval']);
    const withPath = setAt({ dataset: { kind: 'cifar10', trainLimit: 0 } }, ['dataset', 'path'], '/d', order);
    assert.deepEqual(Object.keys(withPath.dataset as object), ['kind', 'path', 'trainLimit']);
    // Inputs are not modified.
    assert.deepEqual(root, { method: 'simclr-v1', training: { epochs: 2 } });
    // Without an order a new key is appended.
    assert.deepEqual(Object.keys(setAt({ b: 1, c: 2 }, ['a'], 0)), ['b', 'c', 'a']);
  });

  it('refuses to replace a non-object parent, and keeps "__proto__" a plain key', () => {
    assert.throws(
      () => setAt({ augment: 5 }, ['augment', 'flip'], 0.5),
      /augment is a number, not an object/,
    );
    const out = setAt({}, ['__proto__', 'x'], 1);
    assert.equal(Object.getPrototypeOf(out), Object.prototype);
    assert.ok(Object.hasOwn(out, '__proto__'));
    assert.equal(({} as Record<string, unknown>).x, undefined);
  });

  it('removes keys, leaving siblings and order alone; a missing key changes nothing', () => {
    const root = { a: 1, params: { temperature: 0.5, tau: 2, z: 3 } };
    const out = removeAt(root, ['params', 'tau']);
    assert.deepEqual(out, { a: 1, params: { temperature: 0.5, z: 3 } });
    assert.deepEqual(Object.keys(out.params as object), ['temperature', 'z']);
    assert.equal(removeAt(root, ['params', 'nope']), root);
    assert.equal(removeAt(root, ['x', 'y']), root);
    const text = serializeConfig(root);
    assert.equal(editedText(text, { type: 'remove', path: ['nope'] }), null);
  });

  it('returns null for an edit that changes no value, even in a hand-formatted file', () => {
    const text = '{"training": {"epochs": 2}}';
    assert.equal(editedText(text, { type: 'edit', path: ['training', 'epochs'], value: 2 }), null);
    assert.notEqual(editedText(text, { type: 'edit', path: ['training', 'epochs'], value: 4 }), null);
  });

  it('keeps CRLF line ends and edits array items in place', () => {
    const text = serializeConfig({ head: { hidden: [256, 128] } }, '\r\n');
    const out = editedText(text, { type: 'edit', path: ['head', 'hidden', '1'], value: 64 })!;
    assert.ok(!/[^\r]\n/.test(out), 'every line end is CRLF');
    assert.deepEqual(JSON.parse(out).head.hidden, [256, 64]);
  });

  it('names the line and column of a parse error, and rejects non-objects', () => {
    const r = parseConfigText('{\n  "a": 1,\n}');
    assert.equal(r.config, null);
    assert.match(r.parseError!, /line 3, column 1/);
    assert.match(parseConfigText('[1]').parseError!, /must be a JSON object.*an array/);
    assert.match(parseConfigText('  ').parseError!, /empty/);
    assert.deepEqual(parseConfigText('{"a":1}'), { config: { a: 1 }, parseError: null });
    assert.throws(() => editedText('{', { type: 'edit', path: ['a'], value: 1 }), /not a valid config/);
  });
});

describe('config editor: what blocks Start', () => {
  it('reports schema issues first, then cross-field ones on the document merged over the defaults', () => {
    assert.deepEqual(configIssues(full()), []);
    const bad = full();
    (bad.training as Record<string, unknown>).epochs = 0;
    assert.deepEqual(
      configIssues(bad).map((i) => i.path),
      ['training.epochs'],
    );
    // Schema-valid but the trainer would refuse it: warm-up longer than training.
    const long = { ...full(), schedule: { kind: 'cosine', warmupEpochs: 50 } };
    assert.deepEqual(
      configIssues(long).map((i) => i.path),
      ['schedule.warmupEpochs'],
    );
    // The schema requires every section, so each missing one is named (before any cross-field check).
    const partial = { version: 1, method: 'simclr-v1', params: {}, seed: 0, dataset: { kind: 'cifar10' } };
    const needed = ['encoder', 'head', 'augment', 'optimizer', 'schedule', 'training', 'eval'];
    assert.deepEqual(
      configIssues(partial).map((i) => i.path),
      needed,
    );
    // The dataset needs a path once it is not the built-in one.
    const complete = { ...full(), dataset: { kind: 'cifar10' } };
    assert.deepEqual(
      configIssues(complete).map((i) => i.path),
      ['dataset.path'],
    );
  });
});
