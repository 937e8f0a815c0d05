/**
 * "Evaluate Checkpoint" inside the real extension host, on a checkpoint the real trainer wrote
 * (fixture run tiny-a): the worker appends a line to the run's evals.jsonl, the Runs tree's
 * checkpoint row shows it, an open chart of the run gets the evaluation as a point; cancelling kills
 * the worker and nothing is appended. Also: "Show Embeddings" computes and opens the view.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { EvalRecord } from '../../../trainer/eval/contract';
import { api, findRunInTree, fixture, waitFor, waitForValue } from './helpers';

function evalLines(runDir: string): string[] {
  const f = path.join(runDir, 'evals.jsonl');
  return fs.existsSync(f) ? fs.readFileSync(f, 'utf8').split('\n').filter(Boolean) : [];
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('evaluate checkpoint', function () {
  this.timeout(120_000);
  const runDir = fixture().runs['tiny-a'];
  const runId = path.basename(runDir);
  const ckpt = path.join(runDir, 'checkpoints', 'step-00000008.safetensors');

  after(async () => {
    // Other files see the fixture as the trainer left it, in the store too (the Runs tree tests
    // read the checkpoint rows' save-time kNN).
    fs.rmSync(path.join(runDir, 'evals.jsonl'), { force: true });
    fs.rmSync(path.join(runDir, 'embeddings'), { recursive: true, force: true });
    const { store } = await api();
    store.refresh(runDir);
    await waitFor('the store to forget the evaluations', () =>
      store.byDir(runDir)?.checkpoints.every((c) => !c.evals),
    );
  });

  it('appends a kNN record to evals.jsonl, shows it on the checkpoint row and in the open chart', async () => {
    const { ChartsPanel } = await api();
    assert.ok(fs.existsSync(ckpt), `fixture checkpoint ${ckpt}`);
    await vscode.commands.executeCommand('contrastiveLab.openCharts', runId);
    const panel = await waitForValue('the charts panel of tiny-a', () => ChartsPanel.panelsFor(runId)[0]);
    await waitFor('the chart to load its metrics', () => (panel.rowsOf(runId)?.metrics.length ?? 0) > 0);
    const before = evalLines(runDir).length;

    const rec = (await vscode.commands.executeCommand(
      'contrastiveLab.evaluateCheckpoint',
      vscode.Uri.file(ckpt),
      'knn',
    )) as EvalRecord | undefined;
    assert.ok(rec, 'the command resolves with the record');
    const lines = evalLines(runDir);
    assert.equal(lines.length, before + 1, 'one line appended');
    assert.deepEqual(JSON.parse(lines.at(-1)!), rec, 'the line is the record the command returned');
    assert.equal(rec.protocol, 'knn');
    assert.equal(rec.step, 8);
    assert.equal(path.resolve(runDir, rec.checkpoint), ckpt);
    assert.ok(rec.top1 >= 0 && rec.top1 <= 1, `top1 ${rec.top1} is a fraction`);
    assert.equal(typeof rec.alignment, 'number');
    assert.equal(typeof rec.uniformity, 'number');

    const want = `kNN ${(rec.top1 * 100).toFixed(1)}%`;
    const row = await waitForValue(`the step 8 row to show ${want}`, async () => {
      const r = await findRunInTree('tiny-a');
      const c = r?.run.children.find((x) => x.label === 'step 8');
      return c?.description.split(' · ').includes(want) ? c : undefined;
    });
    // The evaluation replaces the kNN measured at save time: one kNN figure on the row.
    assert.equal(row.description.match(/kNN/g)?.length, 1, row.description);
    assert.match(row.description, /^epoch 2 · kNN [\d.]+% · [\d.]+ MB$/);

    // The chart follows evals.jsonl: the record becomes an eval_knn_top1 point at step 8.
    const point = await waitForValue('the evaluation in the chart', () =>
      panel.rowsOf(runId)?.evals.find((r) => r.eval_knn_top1 === rec.top1),
    );
    assert.equal(point.step, 8);
    assert.equal(point.eval_alignment, rec.alignment);
    const trainingAt8 = panel
      .rowsOf(runId)!
      .metrics.filter((r) => r.step <= 8)
      .at(-1)!;
    assert.equal(point.time, trainingAt8.time, 'placed at the training time of its step');
    panel.dispose();
  });

  it('cancelling kills the worker and appends nothing', async () => {
    const { evaluations } = await api();
    const before = evalLines(runDir).length;
    // Linear is the slow protocol: there is time to cancel after the first progress line.
    const result = vscode.commands.executeCommand('contrastiveLab.evaluateCheckpoint', ckpt, 'linear');
    const job = await waitForValue('the worker to report progress', () =>
      evaluations.running.find((j) => j.file === ckpt && j.progress),
    );
    assert.ok(job.pid && alive(job.pid), 'the worker runs');
    job.cancel();
    assert.equal(await result, undefined, 'a cancelled evaluation resolves with nothing');
    await waitFor('the worker process to end', () => !alive(job.pid!), 5_000);
    assert.equal(evaluations.running.length, 0);
    // Give a surviving worker the time it would need to finish and write.
    await new Promise((r) => setTimeout(r, 4000));
    assert.equal(evalLines(runDir).length, before, 'no line appended');
  });

  it('rejects zero-shot for a checkpoint that is not CLIP, naming the protocols that apply', async () => {
    const before = evalLines(runDir).length;
    const res = await vscode.commands.executeCommand('contrastiveLab.evaluateCheckpoint', ckpt, 'zeroshot');
    assert.equal(res, undefined);
    assert.equal(evalLines(runDir).length, before);
  });

  it('Show Embeddings computes the PCA file into the run folder and opens the view', async () => {
    const { embeddingsPanelFor } = await api();
    await vscode.commands.executeCommand('contrastiveLab.showEmbeddings', ckpt, { umap: false });
    const panel = await waitForValue('the embeddings panel', () => embeddingsPanelFor(ckpt));
    const data = await waitForValue('the embeddings shown', () => panel.data);
    const file = path.join(runDir, 'embeddings', 'step-00000008.json');
    assert.ok(fs.existsSync(file), `${file} written`);
    assert.deepEqual(JSON.parse(fs.readFileSync(file, 'utf8')).labels, data.labels);
    assert.equal(data.labels.length, 32, 'every test image of the fixture');
    assert.equal(data.projections.pca?.x.length, 32);
    assert.equal(data.step, 8);
    assert.equal(
      fs.readdirSync(path.dirname(file)).filter((f) => f.endsWith('.tmp')).length,
      0,
      'no temporary left',
    );
    panel.dispose();
  });
});
