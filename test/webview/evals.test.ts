import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  evalChartRow,
  evalLong,
  evalShort,
  evalsOfCheckpoint,
  latestByProtocol,
  parseEvals,
  readEvals,
  timeAtStep,
} from '../../extension/evals';
import {
  lastJsonLine,
  parseToolProgress,
  startToolWorker,
  ToolCancelledError,
} from '../../extension/evalsWorker';
import type { EvalRecord } from '../../trainer/eval/contract';
import type { MetricRow } from '../../trainer/run/metrics';

function rec(over: Partial<EvalRecord>): EvalRecord {
  return {
    time: '2026-01-02T03:04:05.000Z',
    checkpoint: 'checkpoints/step-00000008.safetensors',
    method: 'simclr-v1',
    step: 8,
    epoch: 2,
    protocol: 'knn',
    top1: 0.25,
    options: { k: 10 },
    dataset: { kind: 'synthetic', train: 64, test: 32 },
    backend: 'wasm',
    seconds: 1.5,
    ...over,
  };
}

describe('evals.jsonl', () => {
  it('parses records, skipping bad and torn lines with a warning that names the line', () => {
    const good1 = rec({});
    const good2 = rec({ protocol: 'linear', top1: 0.412, alignment: 0.51, uniformity: -2.3 });
    const text = [
      JSON.stringify(good1),
      '{not json',
      JSON.stringify({ ...good1, protocol: 'svm' }),
      JSON.stringify({ ...good1, top1: 'high' }),
      '',
      JSON.stringify(good2),
      '{"step": 3, "torn',
    ].join('\n');
    const { records, warnings } = parseEvals(text);
    assert.deepEqual(records, [good1, good2]);
    assert.equal(warnings.length, 4);
    assert.match(warnings[0], /^line 2: skipped/);
    assert.match(warnings[1], /^line 3: skipped \("protocol" is "svm"/);
    assert.match(warnings[2], /^line 4: skipped \("top1" is not a finite number/);
    assert.match(warnings[3], /^line 7: incomplete last line/);
  });

  it('reads a run folder (none without the file) and matches records to checkpoint files', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-evals-'));
    try {
      assert.deepEqual(readEvals(dir), { records: [], warnings: [] });
      const abs = path.join(dir, 'checkpoints', 'step-00000004.safetensors');
      const rows = [
        rec({ protocol: 'knn', top1: 0.2 }),
        rec({ protocol: 'linear', top1: 0.3 }),
        rec({ protocol: 'knn', top1: 0.22 }),
        rec({ checkpoint: abs, step: 4, top1: 0.1 }),
      ];
      fs.writeFileSync(path.join(dir, 'evals.jsonl'), rows.map((r) => `${JSON.stringify(r)}\n`).join(''));
      const { records } = readEvals(dir);
      const at8 = evalsOfCheckpoint(dir, records, path.join(dir, 'checkpoints', 'step-00000008.safetensors'));
      assert.equal(at8.length, 3);
      assert.deepEqual(evalsOfCheckpoint(dir, records, abs), [rows[3]], 'absolute names match too');
      const latest = latestByProtocol(at8);
      assert.deepEqual(
        latest.map((r) => [r.protocol, r.top1]),
        [
          ['knn', 0.22],
          ['linear', 0.3],
        ],
        'the newest line of each protocol, in protocol order',
      );
      assert.deepEqual(latest.map(evalShort), ['kNN 22.0%', 'linear 30.0%']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('formats the long summary with alignment and uniformity', () => {
    assert.equal(
      evalLong(rec({ protocol: 'linear', top1: 0.4123, top5: 0.9, alignment: 0.5123, uniformity: -2.3456 })),
      'linear top-1 41.2% · top-5 90.0% · alignment 0.512 · uniformity -2.346',
    );
  });

  it('puts an evaluation on the chart at its step, at the training time of that step', () => {
    const rows: MetricRow[] = [
      { step: 1, epoch: 0.25, time: 100, loss: 1 },
      { step: 4, epoch: 1, time: 103, loss: 1 },
      { step: 4, epoch: 1, time: 103.5, knn_top1: 0.1 },
      { step: 8, epoch: 2, time: 110, loss: 1 },
    ];
    assert.equal(timeAtStep(rows, 0), undefined);
    assert.equal(timeAtStep(rows, 4), 103.5);
    assert.equal(timeAtStep(rows, 7), 103.5);
    assert.equal(timeAtStep(rows, 99), 110);
    const r = evalChartRow(rec({ protocol: 'linear', top1: 0.4, alignment: 0.7 }), (s) =>
      timeAtStep(rows, s),
    );
    assert.deepEqual(r, { step: 8, epoch: 2, time: 110, eval_linear_top1: 0.4, eval_alignment: 0.7 });
    const alone = evalChartRow(rec({}));
    assert.equal(
      alone.time,
      Date.parse('2026-01-02T03:04:05.000Z') / 1000,
      'without training rows: its own time',
    );
  });
});

describe('tool worker', () => {
  it('reads progress lines and ignores everything else', () => {
    assert.deepEqual(parseToolProgress('{"type":"progress","fraction":0.5,"message":"features"}'), {
      type: 'progress',
      fraction: 0.5,
      message: 'features',
    });
    assert.equal(
      parseToolProgress('{"type":"progress","fraction":1.5,"message":""}')?.fraction,
      1,
      'clamped',
    );
    assert.equal(parseToolProgress('{"progress":1,"total":2}'), undefined);
    assert.equal(parseToolProgress('backend wasm'), undefined);
    assert.deepEqual(lastJsonLine('loading\n{"a":1}\n{"b":2}\n'), { b: 2 });
    assert.deepEqual(lastJsonLine('{\n  "a": 1\n}\n'), { a: 1 });
  });

  // A real child process (node itself running a script) stands in for the CLI's I/O protocol.
  const script = (body: string) => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cl-worker-')), 'tool.js');
    fs.writeFileSync(file, body);
    return file;
  };

  it('resolves with stdout, reports progress, and turns error: lines into the error', async () => {
    const ok = script(
      `process.stderr.write('{"type":"progress","fraction":0.25,"message":"a"}\\nnoise\\n');
       process.stdout.write(JSON.stringify({ args: process.argv.slice(2) }) + '\\n');`,
    );
    const seen: number[] = [];
    const logs: string[] = [];
    const w = startToolWorker({
      nodePath: process.execPath,
      script: ok,
      args: ['eval', 'x y.safetensors', '--json'],
      onProgress: (p) => seen.push(p.fraction),
      onLog: (l) => logs.push(l),
    });
    assert.deepEqual(lastJsonLine(await w.done), { args: ['eval', 'x y.safetensors', '--json'] });
    assert.deepEqual(seen, [0.25]);
    assert.deepEqual(logs, ['noise']);

    const bad = script(
      `process.stderr.write('error: --protocol must be knn or linear\\n'); process.exit(2);`,
    );
    await assert.rejects(
      startToolWorker({ nodePath: process.execPath, script: bad, args: ['eval'] }).done,
      (e: Error & { exitCode?: number }) => {
        assert.equal(e.message, '--protocol must be knn or linear');
        assert.equal(e.exitCode, 2);
        return true;
      },
    );
  });

  it('cancelling kills the process before it writes its result', async () => {
    const marker = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cl-worker-')), 'written');
    const slow = script(
      `process.stderr.write('{"type":"progress","fraction":0.1,"message":"start"}\\n');
       setTimeout(() => require('fs').writeFileSync(${JSON.stringify(marker)}, 'x'), 600);`,
    );
    const ctrl = new AbortController();
    const w = startToolWorker({
      nodePath: process.execPath,
      script: slow,
      args: ['eval'],
      signal: ctrl.signal,
      onProgress: () => ctrl.abort(),
    });
    await assert.rejects(w.done, ToolCancelledError);
    assert.throws(() => process.kill(w.pid!, 0), /ESRCH/, 'the worker process is gone');
    await new Promise((r) => setTimeout(r, 800));
    assert.equal(fs.existsSync(marker), false, 'nothing written after the cancel');
  });
});
