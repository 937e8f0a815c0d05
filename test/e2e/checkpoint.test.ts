/**
 * Checkpoint tools, clicked through as a user would in a real VS Code (code-server 4.100.3) with the
 * extension installed from its .vsix: open a checkpoint from the Runs tree (the tensor table),
 * "Evaluate…" in the checkpoint editor with the kNN protocol (result notification, evals.jsonl line,
 * the tree row's description), then "Show Embeddings" from the row's inline action (points drawn,
 * hover preview of a point's image), then "Compare Runs" (the evaluation as a chart series, the
 * config differences, the summary table).
 *
 * Screenshots: test-results/screenshots/checkpoint-NN-*.png (look at them).
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { FrameLocator, Page } from 'playwright-core';
import { type Browser, launchBrowser } from '../vscode/browser';
import { type CodeServer, ROOT, startCodeServer } from '../vscode/codeServer';
import { ensureBuilt, makeWorkspace, packageVsix, type Workspace } from '../vscode/fixture';
import {
  activeWebview,
  activityBarEntry,
  clickInlineAction,
  editorTab,
  extensionHostLog,
  openWorkbench,
  quickInput,
  runCommand,
  screenshot,
  treeRow,
  viewHeader,
} from '../vscode/workbench';

interface EmbeddingsProbe {
  pointsDrawn(): number;
  classPixels(): number;
  classes(): { name: string; points: number }[];
  pointPosition(i: number): { x: number; y: number } | null;
  hovered(): number | null;
}

/** Calls one of the embeddings webview's read-only test probes (`window.__embeddings`). */
function probe<K extends keyof EmbeddingsProbe>(
  view: FrameLocator,
  name: K,
  arg?: number,
): Promise<ReturnType<EmbeddingsProbe[K]>> {
  return view
    .locator('#app')
    .evaluate(
      (_el, [n, a]) =>
        (window as unknown as { __embeddings: Record<string, (x?: number) => unknown> }).__embeddings[n](a),
      [name, arg] as const,
    ) as Promise<ReturnType<EmbeddingsProbe[K]>>;
}

describe('checkpoint: inspect, evaluate, embeddings', function () {
  this.timeout(180_000);
  let ws: Workspace | undefined;
  let cs: CodeServer | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let vsixDir: string | undefined;
  let runDir = '';
  let step = 0;

  const shot = (what: string) => screenshot(page, `checkpoint-${String(++step).padStart(2, '0')}-${what}`);

  before(async () => {
    ensureBuilt();
    ws = makeWorkspace('cl-e2e-ckpt-');
    runDir = ws.runs.get('tiny-a')!;
    vsixDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-vsix-'));
    const ext = process.env.CL_E2E_LINK ? ROOT : packageVsix(vsixDir);
    // PCA only: UMAP would add tens of seconds on two shared cores.
    cs = await startCodeServer({
      workspace: ws.dir,
      install: [ext],
      settings: { 'contrastiveLab.embeddings.umap': false },
    });
    browser = await launchBrowser();
    page = browser.page;
    await openWorkbench(page, cs.url());
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && browser) {
      const name = `failed-checkpoint-${this.currentTest.title.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}`;
      const file = await screenshot(page, name).catch(() => undefined);
      console.error(`      screenshot: ${file}`);
      if (cs)
        console.error(`--- extension host log (tail) ---\n${extensionHostLog(cs.userDataDir).slice(-4000)}`);
    }
  });

  after(async () => {
    await browser?.close();
    await cs?.stop(!!process.env.CL_KEEP_TMP);
    if (!process.env.CL_KEEP_TMP) ws?.dispose();
    if (vsixDir) fs.rmSync(vsixDir, { recursive: true, force: true });
  });

  it('opens a checkpoint from the Runs tree and shows its tensor table', async () => {
    const entry = activityBarEntry(page, 'Contrastive Lab');
    await entry.waitFor({ timeout: 60_000 });
    await entry.click();
    await viewHeader(page, 'Runs').waitFor({ timeout: 30_000 });
    const run = treeRow(page, 'Runs', 'tiny-a');
    await run.waitFor({ timeout: 60_000 });
    if ((await run.getAttribute('aria-expanded')) !== 'true') await run.locator('.monaco-tl-twistie').click();
    const ckpt = treeRow(page, 'Runs', 'step 8');
    await ckpt.waitFor({ timeout: 30_000 });
    await ckpt.click();
    await editorTab(page, 'step-00000008.safetensors').waitFor({ timeout: 30_000 });
    const view = activeWebview(page);
    const table = view.getByTestId('tensor-table');
    await table.waitFor({ timeout: 60_000 });
    // Statistics come from the inspect worker; wait until they are in (no "computing" notice).
    await view.locator('[data-testid="notice"]').waitFor({ state: 'hidden', timeout: 60_000 });
    const rows = await table.locator('tbody tr').count();
    assert.ok(rows > 4, `tensor rows (${rows})`);
    await view.getByTestId('evaluate').waitFor();
    await page.mouse.move(900, 600);
    await shot('tensor-table');
  });

  it('evaluates the checkpoint with kNN from the editor and shows the result', async () => {
    const view = activeWebview(page);
    await view.getByTestId('evaluate').click();
    const q = quickInput(page);
    await q.widget.locator('input[placeholder^="Evaluate step-00000008"]').waitFor({ timeout: 15_000 });
    const labels = (await q.rows.locator('.label-name').allInnerTexts()).map((s) => s.trim());
    assert.deepEqual(labels, ['kNN', 'linear'], 'zero-shot is offered for CLIP checkpoints only');
    await shot('protocol-pick');
    await q.rows.filter({ hasText: 'kNN' }).first().click();

    const toast = page.locator('.notification-toast', { hasText: /kNN top-1 [\d.]+%/ }).first();
    await toast.waitFor({ timeout: 90_000 });
    const text = ((await toast.textContent()) ?? '').replace(/\s+/g, ' ');
    assert.match(text, /step 8: kNN top-1 [\d.]+% · alignment [\d.]+ · uniformity -?[\d.]+/);
    const lines = fs.readFileSync(path.join(runDir, 'evals.jsonl'), 'utf8').trim().split('\n');
    assert.equal(lines.length, 1);
    const rec = JSON.parse(lines[0]);
    const pct = `${(rec.top1 * 100).toFixed(1)}%`;
    assert.ok(text.includes(`kNN top-1 ${pct}`), `${text} shows ${pct}`);
    // The Runs tree shows the evaluation on the checkpoint row.
    await treeRow(page, 'Runs', 'step 8')
      .locator('.label-description', { hasText: `kNN ${pct}` })
      .waitFor({ timeout: 30_000 });
    await shot('evaluated');
  });

  it('opens the embeddings view from the row inline action and draws the points', async () => {
    const row = treeRow(page, 'Runs', 'step 8');
    await clickInlineAction(row, 'Show Embeddings');
    await editorTab(page, 'Embeddings: step-00000008.safetensors').waitFor({ timeout: 60_000 });
    const view = activeWebview(page);
    await view.locator('#app[data-state="ready"]').waitFor({ timeout: 90_000 });
    const classes = await probe(view, 'classes');
    const total = classes.reduce((n, c) => n + c.points, 0);
    assert.equal(total, 32, 'every test image of the fixture is a point');
    assert.equal(await probe(view, 'pointsDrawn'), 32);
    await view.getByTestId('legend').locator('.legend-item').first().waitFor();
    assert.equal(await view.getByTestId('legend').locator('.legend-item').count(), classes.length);
    const inked = await probe(view, 'classPixels');
    assert.ok(inked > 32, `class-coloured pixels on the canvas (${inked})`);
    await page.mouse.move(900, 600);
    await shot('embeddings');

    // Hover a point: its image, class and index appear beside the plot.
    const at = await probe(view, 'pointPosition', 0);
    assert.ok(at, 'point 0 has a position');
    await view.getByTestId('scatter').hover({ position: { x: at.x, y: at.y } });
    await view
      .getByTestId('preview-text')
      .filter({ hasText: /test image #\d+/ })
      .waitFor({ timeout: 10_000 });
    // Points can coincide in a tiny run: the one under the mouse is the one described.
    const hovered = await probe(view, 'hovered');
    assert.notEqual(hovered, null);
    assert.ok(await view.getByTestId('preview-image').isVisible(), 'the image preview is shown');
    await shot('embeddings-hover');
  });

  it('compares the two runs: evaluation series, config differences and the summary table', async () => {
    await runCommand(page, 'Contrastive Lab: Compare Runs…');
    const q = quickInput(page);
    await q.widget.locator('input[placeholder^="Runs to compare"]').waitFor({ timeout: 15_000 });
    for (const name of ['tiny-a', 'tiny-b']) await q.rows.filter({ hasText: name }).first().click();
    await page.keyboard.press('Enter');
    await editorTab(page, 'Compare: 2 runs').waitFor({ timeout: 30_000 });
    const view = activeWebview(page);
    await view.locator('#app[data-state="ready"]').waitFor({ timeout: 60_000 });
    // The evaluation made above is a point of its own series in tiny-a's charts.
    await view.getByTestId('chart-eval_knn_top1').waitFor({ timeout: 30_000 });
    const diff = view.getByTestId('config-diff');
    await diff.locator('tr[data-key="seed"]').waitFor({ timeout: 30_000 });
    const diffKeys = await diff
      .locator('tbody tr')
      .evaluateAll((trs) => trs.map((t) => t.getAttribute('data-key')));
    assert.deepEqual(diffKeys, ['seed'], 'the fixture runs differ only in their seed');
    const summary = view.getByTestId('summary');
    assert.equal(await summary.locator('tr[data-metric="loss"]').count(), 2, 'loss: one row per run');
    assert.equal(
      await summary.locator('tr[data-metric="eval_knn_top1"] td.num').first().textContent().then(Boolean),
      true,
    );
    await page.mouse.move(900, 600);
    await shot('compare');
  });
});
