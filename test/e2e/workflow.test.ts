/**
 * The main workflow, clicked through as a user would in a real VS Code (code-server 4.100.3) with
 * the extension installed from its .vsix: Methods → "New Run from This Method" → name → config
 * editor form (fields edited in the webview) → Start → live charts growing → "Stop Run" from the
 * command palette → the run under "stopped" with its checkpoint.
 *
 * Screenshots after every step: test-results/screenshots/workflow-NN-*.png (look at them).
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
  treeRows,
  viewHeader,
} from '../vscode/workbench';

/** What the form sets to make the run quick on two shared cores but long enough to watch and stop. */
const FORM_EDITS: [string, string][] = [
  ['dataset.syntheticTrain', '256'],
  ['dataset.syntheticTest', '32'],
  ['encoder.width', '4'],
  ['eval.knn.k', '10'],
  ['training.epochs', '200'],
];

interface ChartsProbe {
  series: { runId: string; points: number }[];
  last: number | undefined;
}

async function readLoss(charts: FrameLocator): Promise<ChartsProbe> {
  return charts.locator('#app').evaluate(() => {
    const api = (
      window as unknown as {
        __charts: {
          series(m: string): { runId: string; points: number }[];
          lastValue(m: string, runId: string): number | undefined;
        };
      }
    ).__charts;
    const series = api.series('loss');
    return { series, last: series[0] ? api.lastValue('loss', series[0].runId) : undefined };
  });
}

describe('workflow: new run from a method, edit, start, watch, stop', function () {
  this.timeout(180_000);
  let ws: Workspace | undefined;
  let cs: CodeServer | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let vsixDir: string | undefined;
  let step = 0;
  /** Name the user accepted in the input box, and the run folder it made. */
  let runName = '';
  let runDir = '';

  const shot = (what: string) => screenshot(page, `workflow-${String(++step).padStart(2, '0')}-${what}`);

  before(async () => {
    ensureBuilt();
    ws = makeWorkspace('cl-e2e-workflow-');
    vsixDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-vsix-'));
    const ext = process.env.CL_E2E_LINK ? ROOT : packageVsix(vsixDir);
    cs = await startCodeServer({ workspace: ws.dir, install: [ext] });
    browser = await launchBrowser();
    page = browser.page;
    await openWorkbench(page, cs.url());
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && browser) {
      const name = `failed-workflow-${this.currentTest.title.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}`;
      const file = await screenshot(page, name).catch(() => undefined);
      console.error(`      screenshot: ${file}`);
      if (cs)
        console.error(`--- extension host log (tail) ---\n${extensionHostLog(cs.userDataDir).slice(-4000)}`);
    }
  });

  after(async () => {
    // Runs outlive the window by design: a run this test left training is ended here.
    for (const dir of ws && fs.existsSync(ws.runsDir) ? fs.readdirSync(ws.runsDir) : []) {
      try {
        const info = JSON.parse(fs.readFileSync(path.join(ws!.runsDir, dir, 'run.json'), 'utf8'));
        if ((info.status === 'running' || info.status === 'stopping') && info.pid)
          process.kill(info.pid, 'SIGKILL');
      } catch {
        // no run.json, or the process is gone
      }
    }
    await browser?.close();
    await cs?.stop(!!process.env.CL_KEEP_TMP);
    if (!process.env.CL_KEEP_TMP) ws?.dispose();
    if (vsixDir) fs.rmSync(vsixDir, { recursive: true, force: true });
  });

  it('opens the Contrastive Lab view', async () => {
    const entry = activityBarEntry(page, 'Contrastive Lab');
    await entry.waitFor({ timeout: 60_000 });
    await entry.click();
    await page.mouse.move(900, 500); // no hover tooltip over the activity bar in the screenshots
    await viewHeader(page, 'Methods').waitFor({ timeout: 30_000 });
    await viewHeader(page, 'Runs').waitFor({ timeout: 30_000 });
    await treeRow(page, 'Methods', 'SimCLR v1').waitFor({ timeout: 60_000 });
    await treeRow(page, 'Runs', 'tiny-a').waitFor({ timeout: 60_000 });
    await page
      .locator('.part.sidebar .monaco-progress-container.active')
      .first()
      .waitFor({ state: 'hidden', timeout: 60_000 });
    await page
      .locator('.workbench-hover')
      .first()
      .waitFor({ state: 'hidden', timeout: 5_000 })
      .catch(() => {});
    await shot('views');
    assert.ok(await treeRow(page, 'Methods', 'End-to-end').isVisible());
  });

  it('creates a run from SimCLR v1 with its inline "New Run from This Method" action', async () => {
    const row = treeRow(page, 'Methods', 'SimCLR v1');
    await row.hover();
    await row.locator('.actions [aria-label="New Run from This Method"]').waitFor({ state: 'visible' });
    await shot('hover-method');
    await clickInlineAction(row, 'New Run from This Method');

    const q = quickInput(page);
    await q.widget.filter({ hasText: 'Name of the new SimCLR v1 run' }).waitFor({ timeout: 15_000 });
    runName = await q.input.inputValue();
    assert.match(runName, /^simclr-v1-\d{8}$/, 'a default name is offered');
    await shot('name-input');
    await page.keyboard.press('Enter');
    await q.widget.waitFor({ state: 'hidden' });

    // The run folder exists as a queued run and its config opens in the form.
    runDir = await waitForRunDir(ws!.runsDir, runName);
    assert.equal(JSON.parse(fs.readFileSync(path.join(runDir, 'run.json'), 'utf8')).status, 'queued');
  });

  it('edits the config in the form (epochs 200, a small dataset and encoder)', async () => {
    await editorTab(page, 'config.json').waitFor({ timeout: 30_000 });
    const form = activeWebview(page);
    await form.getByTestId('run-name').filter({ hasText: runName }).waitFor({ timeout: 30_000 });
    await form.getByTestId('field-training.epochs').waitFor({ timeout: 30_000 });
    await shot('config-editor');

    for (const [field, value] of FORM_EDITS) {
      const input = form.getByTestId(`field-${field}`).locator('input');
      // Known form bug (see the report): a `state` message arriving while a field is focused
      // rewrites what the user is typing there with the document's value, so the echo of the
      // previous field's edit can wipe this entry. Type it again until it sticks, as a user would.
      await waitUntil(`${field} to keep ${value}`, async () => {
        await input.fill(value);
        await input.press('Enter'); // the form commits on change (Enter or leaving the field)
        await page.waitForTimeout(300);
        return (await input.inputValue()) === value;
      });
    }
    // The edits went into the document (not yet to disk): the tab shows unsaved changes.
    await editorTab(page, 'config.json').and(page.locator('.tab.dirty')).waitFor({ timeout: 10_000 });
    assert.equal(configValue(runDir, 'training.epochs'), 10, 'nothing saved before Start');
    await page.waitForTimeout(500); // let the last edit's round trip settle before Start saves
    await form
      .locator('[data-field="training.epochs"]')
      .evaluate((el) => el.scrollIntoView({ block: 'center' }));
    await shot('config-edited');
    assert.equal(await form.getByTestId('issue-count').textContent(), '✓ Valid');
    assert.equal(await form.getByTestId('start-button').getAttribute('disabled'), null, 'Start is enabled');
  });

  it('starts the run with Start and watches the loss chart grow', async () => {
    const form = activeWebview(page);
    await form.getByTestId('start-button').click();
    // Start saves the document first.
    await waitUntil('config.json saved with the form edits', async () =>
      FORM_EDITS.every(([f, v]) => String(configValue(runDir, f)) === v),
    );
    await editorTab(page, `Charts: ${runName}`).waitFor({ timeout: 60_000 });
    const charts = activeWebview(page);
    await charts.locator('#app[data-state="ready"]').waitFor({ timeout: 60_000 });
    await charts.getByTestId('chart-loss').waitFor({ timeout: 90_000 });
    const first = await waitUntil('loss points in the chart', async () => {
      const p = await readLoss(charts);
      return p.series.length === 1 && p.series[0].points >= 2 ? p : undefined;
    });
    await shot('charts');
    assert.equal(first.series[0].runId, path.basename(runDir));
    assert.ok(Number.isFinite(first.last), `a finite last loss (${first.last})`);

    const second = await waitUntil('more loss points', async () => {
      const p = await readLoss(charts);
      return p.series[0]?.points >= first.series[0].points + 3 ? p : undefined;
    });
    await shot('charts-later');
    assert.ok(second.series[0].points > first.series[0].points, 'the chart grew while the run trained');
    assert.equal(runStatus(runDir), 'running');
  });

  it('stops the run with "Contrastive Lab: Stop Run" from the command palette', async () => {
    const q = quickInput(page);
    // Nothing is selected in the Runs view, so the command asks which run. A quick pick closes when
    // focus moves (the live charts and tree keep updating meanwhile), so open it again if it did.
    const picker = q.widget.locator('input[placeholder="Run to stop"]');
    for (let attempt = 1; ; attempt++) {
      await runCommand(page, 'Contrastive Lab: Stop Run');
      try {
        await picker.waitFor({ timeout: 10_000 });
        break;
      } catch (e) {
        if (attempt === 3) throw e;
        await page.keyboard.press('Escape');
      }
    }
    await q.input.fill(runName);
    await q.rows.filter({ hasText: runName }).first().waitFor();
    await shot('stop-pick-run');
    await page.keyboard.press('Enter');
    await waitUntil('run.json to say stopped', async () => runStatus(runDir) === 'stopped', 60_000);

    const group = treeRow(page, 'Runs', /^stopped \(1\)$/);
    await group.waitFor({ timeout: 30_000 });
    const run = treeRow(page, 'Runs', runName);
    await run.waitFor({ timeout: 30_000 });
    // The run's row is the first row after the "stopped" group row, one level deeper.
    const rows = treeRows(page, 'Runs');
    const labels = await rows.locator('.label-name').allInnerTexts();
    const at = labels.findIndex((l) => /^stopped \(1\)$/.test(l.trim()));
    assert.equal(labels[at + 1]?.trim(), runName, `rows: ${JSON.stringify(labels)}`);
    assert.equal(await run.getAttribute('aria-level'), '2');
    await shot('stopped');

    if ((await run.getAttribute('aria-expanded')) !== 'true') await run.locator('.monaco-tl-twistie').click();
    const ckpt = treeRows(page, 'Runs', /^step \d+/).first();
    await ckpt.waitFor({ timeout: 30_000 });
    assert.equal(await run.getAttribute('aria-expanded'), 'true');
    assert.equal(await ckpt.getAttribute('aria-level'), '3');
    const files = fs.readdirSync(path.join(runDir, 'checkpoints')).filter((f) => f.endsWith('.safetensors'));
    assert.ok(files.length >= 1, 'a checkpoint file on disk');
    await page.mouse.move(900, 500);
    await shot('stopped-checkpoint');
  });
});

function runStatus(runDir: string): string | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(runDir, 'run.json'), 'utf8')).status;
  } catch {
    return undefined;
  }
}

function configValue(runDir: string, dotted: string): unknown {
  let v: unknown = JSON.parse(fs.readFileSync(path.join(runDir, 'config.json'), 'utf8'));
  for (const k of dotted.split('.')) v = (v as Record<string, unknown> | undefined)?.[k];
  return v;
}

async function waitUntil<T>(
  what: string,
  pred: () => Promise<T>,
  timeoutMs = 30_000,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await pred();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last}` : ''}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function waitForRunDir(runsDir: string, name: string): Promise<string> {
  return waitUntil(`a run folder named ${name}`, async () => {
    for (const d of fs.readdirSync(runsDir)) {
      try {
        const info = JSON.parse(fs.readFileSync(path.join(runsDir, d, 'run.json'), 'utf8'));
        if (info.name === name) return path.join(runsDir, d);
      } catch {
        // not a run folder (yet)
      }
    }
    return undefined;
  });
}
