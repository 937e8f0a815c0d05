import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { GLIBC_TUNABLES_VAR, mallocEnv, REUSE_FREED_MEMORY } from '../../trainer/backend/malloc-env';

describe('malloc environment for spawned trainers', () => {
  it('sets glibc tunables on Linux, keeps a value the user set, leaves other platforms alone', () => {
    assert.deepEqual(mallocEnv({}, 'linux'), { [GLIBC_TUNABLES_VAR]: REUSE_FREED_MEMORY });
    assert.deepEqual(mallocEnv({ [GLIBC_TUNABLES_VAR]: 'glibc.malloc.arena_max=2' }, 'linux'), {});
    assert.deepEqual(mallocEnv({}, 'darwin'), {});
    assert.deepEqual(mallocEnv({}, 'win32'), {});
  });

  it('glibc accepts the settings: a process started with them reports them back', function () {
    const ldso = '/lib64/ld-linux-x86-64.so.2';
    if (process.platform !== 'linux' || !existsSync(ldso)) this.skip();
    // ld.so prints the tunables it parsed; an out-of-range value would show the default instead.
    const out = execFileSync(ldso, ['--list-tunables'], {
      encoding: 'utf8',
      env: { ...process.env, ...mallocEnv({}, 'linux') },
    });
    assert.match(out, /glibc\.malloc\.mmap_threshold: 0xffffffff/);
    assert.match(out, /glibc\.malloc\.trim_threshold: 0xffffffff/);
  });
});
