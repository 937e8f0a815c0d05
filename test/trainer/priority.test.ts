import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import {
  applyNiceFromEnv,
  editorTrainerEnv,
  NICE_ENV_VAR,
  THREADS_ENV_VAR,
} from '../../trainer/run/priority';

const ROOT = path.join(__dirname, '..', '..');

describe('trainer CPU priority (CONTRASTIVE_LAB_NICE)', () => {
  it('rejects values that are not a nice level, naming the variable; unset does nothing', () => {
    assert.equal(applyNiceFromEnv({}), null);
    assert.match(
      applyNiceFromEnv({ [NICE_ENV_VAR]: 'low' }) ?? '',
      /CONTRASTIVE_LAB_NICE: expected an integer from -20 to 19, got 'low'/,
    );
    assert.match(applyNiceFromEnv({ [NICE_ENV_VAR]: '25' }) ?? '', /got '25'/);
  });

  it('editor-spawned processes: nice 10 and one core left to the editor, unless the user chose threads', () => {
    assert.deepEqual(editorTrainerEnv({}, 8), { [NICE_ENV_VAR]: '10', [THREADS_ENV_VAR]: '7' });
    assert.deepEqual(editorTrainerEnv({}, 1), { [NICE_ENV_VAR]: '10', [THREADS_ENV_VAR]: '1' });
    assert.deepEqual(editorTrainerEnv({ [THREADS_ENV_VAR]: '4' }, 8), { [NICE_ENV_VAR]: '10' });
  });

  it('a fresh process lowers its own priority to the requested level and never raises it', () => {
    const probe = (env: Record<string, string>, nice = 0) =>
      execFileSync(
        'nice',
        [
          '-n',
          String(nice),
          process.execPath,
          require.resolve('tsx/cli'),
          '-e',
          "import { applyNiceFromEnv } from './trainer/run/priority'; console.log(JSON.stringify([applyNiceFromEnv(), require('node:os').getPriority()]))",
        ],
        { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ...env } },
      )
        .trim()
        .split('\n')
        .at(-1);
    assert.equal(probe({ [NICE_ENV_VAR]: '10' }), '[null,10]');
    // Already nicer than asked: left alone (raising priority needs privileges and is not wanted).
    assert.equal(probe({ [NICE_ENV_VAR]: '5' }, 12), '[null,12]');
  });
});
