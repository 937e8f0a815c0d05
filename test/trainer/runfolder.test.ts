import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BASE_DEFAULTS } from '../../trainer/config/config';
import { MetricsWriter, parseMetrics, readMetricsFile } from '../../trainer/run/metrics';
import { createRunFolder, readRunInfo, runPath, updateRunInfo } from '../../trainer/run/runfolder';

describe('run folder', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-runs-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('creates config.json, run.json and checkpoints/ with a unique id', () => {
    const a = createRunFolder(dir, BASE_DEFAULTS, { name: 'my run' });
    const b = createRunFolder(dir, BASE_DEFAULTS, { name: 'my run' });
    assert.notEqual(a.info.id, b.info.id);
    for (const r of [a, b]) {
      assert.ok(fs.existsSync(path.join(r.dir, 'config.json')));
      assert.ok(fs.statSync(path.join(r.dir, 'checkpoints')).isDirectory());
      assert.deepEqual(JSON.parse(fs.readFileSync(path.join(r.dir, 'config.json'), 'utf8')), BASE_DEFAULTS);
      assert.equal(readRunInfo(r.dir).status, 'queued');
      assert.equal(path.dirname(r.dir), dir);
    }
    assert.match(a.info.id, /^\d{8}-\d{6}-my-run$/);
    updateRunInfo(a.dir, { status: 'running', step: 5 });
    assert.equal(readRunInfo(a.dir).step, 5);
  });

  it('refuses run ids that would escape the runs folder', () => {
    for (const bad of ['..', '../x', 'a/b', '/etc', '.hidden', 'a\\b', '', 'x'.repeat(101)]) {
      assert.throws(() => runPath(dir, bad), /Invalid run id/, bad);
      assert.throws(() => createRunFolder(dir, BASE_DEFAULTS, { id: bad }), /Invalid run id/, bad);
    }
    assert.deepEqual(fs.readdirSync(dir), []);
    // Free-form names are slugged into safe ids.
    const r = createRunFolder(dir, BASE_DEFAULTS, { name: '../../etc/passwd' });
    assert.equal(path.dirname(r.dir), dir);
  });

  it('metrics.jsonl: appended rows read back; a torn last line is skipped with a warning', () => {
    const file = path.join(dir, 'metrics.jsonl');
    const w = new MetricsWriter(file);
    w.append([
      { step: 1, epoch: 0.1, time: 1, loss: 5 },
      { step: 2, epoch: 0.2, time: 2, loss: 4 },
    ]);
    const size = w.sync();
    w.close();
    fs.appendFileSync(file, '{"step": 3, "epoch": 0.3, "lo');
    const r = readMetricsFile(file);
    assert.deepEqual(
      r.rows.map((x) => x.loss),
      [5, 4],
    );
    assert.equal(r.offset, size);
    assert.equal(r.warnings.length, 1);
    assert.match(r.warnings[0], /incomplete last line/);
    // A corrupt line in the middle is skipped and reported, later lines survive.
    const p = parseMetrics('{"step":1,"epoch":0,"time":0}\nnot json\n{"step":2,"epoch":0,"time":0}\n');
    assert.equal(p.rows.length, 2);
    assert.match(p.warnings[0], /line 2/);
  });
});
