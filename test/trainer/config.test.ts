import * as assert from 'node:assert/strict';
import { BASE_DEFAULTS, ConfigError, configSchema, validateConfig } from '../../trainer/config/config';
import { resolveConfig } from '../../trainer/config/resolve';
import { METHODS } from '../../trainer/methods';
import { METHOD_INFOS } from '../../trainer/methods/catalog';

function issuesOf(fn: () => unknown): { path: string; message: string }[] {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${e}`);
    return e.issues;
  }
  assert.fail('expected a ConfigError');
}

describe('config', () => {
  it('the defaults and every method preset resolve to a valid config', () => {
    validateConfig(BASE_DEFAULTS);
    for (const id of METHOD_INFOS.keys()) {
      for (const preset of ['laptop', 'paper'] as const) {
        const c = resolveConfig({ method: id }, preset);
        assert.equal(c.method, id);
        // Every key a method declares as its own is a documented parameter of the schema.
        for (const k of METHOD_INFOS.get(id)!.paramKeys) {
          assert.ok(
            (configSchema.properties.params.properties as Record<string, unknown>)[k],
            `${id}: params.${k}`,
          );
        }
      }
    }
    assert.equal(resolveConfig({}, 'paper').encoder.arch, 'resnet18');
  });

  it('user values override the preset, nested objects merge key by key', () => {
    const c = resolveConfig({ training: { epochs: 3 }, augment: { colorJitter: { hue: 0 } } });
    assert.equal(c.training.epochs, 3);
    assert.equal(c.training.batchSize, 64);
    assert.equal(c.augment.colorJitter.hue, 0);
    assert.equal(c.augment.colorJitter.brightness, 0.8);
  });

  it('names the field and the reason for bad values', () => {
    const cases: [unknown, string, RegExp][] = [
      [{ training: { epochs: 0 } }, 'training.epochs', /must be >= 1.*got 0/],
      [{ training: { batchSize: 'big' } }, 'training.batchSize', /must be integer/],
      [{ params: { temperature: -1 } }, 'params.temperature', /must be > 0/],
      [{ augment: { flip: 1.5 } }, 'augment.flip', /must be <= 1/],
      [{ optimizer: { kind: 'adam' } }, 'optimizer.kind', /must be one of "sgd", "lars"/],
      [{ encoder: { arch: 'vgg' } }, 'encoder.arch', /must be one of/],
      [{ trainnig: {} }, 'trainnig', /unknown field/],
      [
        { augment: { cropScale: [0.9, 0.2] } },
        'augment.cropScale',
        /lower bound 0.9 is above upper bound 0.2/,
      ],
      [{ dataset: { kind: 'cifar10' } }, 'dataset.path', /required for dataset kind 'cifar10'/],
    ];
    for (const [user, path, re] of cases) {
      const issues = issuesOf(() => resolveConfig(user as never));
      const hit = issues.find((i) => i.path === path);
      assert.ok(hit, `no issue at ${path}: ${JSON.stringify(issues)}`);
      assert.match(hit.message, re);
    }
  });

  it('refuses an unknown method with the list of known ones', () => {
    assert.throws(() => resolveConfig({ method: 'simclr-v9' }), /Unknown method 'simclr-v9'.*simclr-v1/);
  });

  it('the schema describes every field of the defaults (no undocumented keys)', () => {
    // Walk the defaults and check each key has a schema node with a description.
    const walk = (value: unknown, node: Record<string, unknown>, path: string) => {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) return;
      const props = node.properties as Record<string, Record<string, unknown>> | undefined;
      assert.ok(props, `${path} has no properties in the schema`);
      for (const [k, v] of Object.entries(value)) {
        const child = props[k];
        assert.ok(child, `${path}.${k} is not in the schema`);
        if (typeof v !== 'object' || Array.isArray(v))
          assert.ok(child.description || child.const !== undefined, `${path}.${k} has no description`);
        walk(v, child, `${path}.${k}`);
      }
    };
    walk(BASE_DEFAULTS, configSchema as Record<string, unknown>, '');
  });
});

describe('method catalog', () => {
  it('every implemented method has catalog metadata and vice versa', () => {
    assert.deepEqual([...METHODS.keys()].sort(), [...METHOD_INFOS.keys()].sort());
    for (const [id, m] of METHODS) assert.equal(m.info, METHOD_INFOS.get(id));
  });
});
