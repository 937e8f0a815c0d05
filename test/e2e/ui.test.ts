/**
 * What a user sees: a real VS Code (code-server 4.100.3) in headless chromium, the extension
 * installed from the .vsix that `vsce package` makes (so .vscodeignore and the bundles are what is
 * tested), a workspace whose runs/ holds two runs trained by the real trainer. Clicks through the UI
 * and takes screenshots into test-results/screenshots/ (look at them when something changes).
 *
 * `npm run test:e2e` (mocha with test/e2e/.mocharc.json).
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Page } from 'playwright-core';
import { type Browser, launchBrowser } from '../vscode/browser';
import { type CodeServer, ROOT, startCodeServer } from '../vscode/codeServer';
import { ensureBuilt, FIXTURE_RUNS, makeWorkspace, packageVsix, type Workspace } from '../vscode/fixture';
import {
  activityBarEntry,
  extensionHostLog,
  openWorkbench,
  screenshot,
  treeRow,
  treeRows,
  viewHeader,
} from '../vscode/workbench';

describe('Contrastive Lab in the VS Code UI', function () {
  this.timeout(180_000);
  let ws: Workspace | undefined;
  let cs: CodeServer | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let vsixDir: string | undefined;

  before(async () => {
    ensureBuilt();
    ws = makeWorkspace('cl-e2e-ws-');
    // Installed from the .vsix users get (CL_E2E_LINK=1: link the repository instead, no packaging).
    vsixDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-vsix-'));
    const ext = process.env.CL_E2E_LINK ? ROOT : packageVsix(vsixDir);
    cs = await startCodeServer({ workspace: ws.dir, install: [ext] });
    browser = await launchBrowser();
    page = browser.page;
    await openWorkbench(page, cs.url());
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && browser) {
      const name = `failed-${this.currentTest.title.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}`;
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

  it('shows a Contrastive Lab entry in the activity bar', async () => {
    const entry = activityBarEntry(page, 'Contrastive Lab');
    await entry.waitFor({ timeout: 60_000 });
    // The workbench is still restoring (explorer loading, extensions registering) when the entry
    // first appears, and the activity bar may redraw: let it settle, then look again.
    await page
      .locator('.part.sidebar .monaco-progress-container.active')
      .first()
      .waitFor({ state: 'hidden', timeout: 60_000 });
    await page.waitForTimeout(1000);
    await entry.waitFor({ timeout: 30_000 });
    await screenshot(page, '01-workbench');
    assert.ok(await entry.isVisible());
  });

  it('opens the side bar with the Methods and Runs views', async () => {
    await activityBarEntry(page, 'Contrastive Lab').click();
    await page.mouse.move(700, 450); // no hover tooltip over the activity bar in the screenshots
    const title = page.locator('.part.sidebar .composite.title h2');
    await title.filter({ hasText: /contrastive lab/i }).waitFor({ timeout: 30_000 });
    await viewHeader(page, 'Methods').waitFor({ timeout: 30_000 });
    await viewHeader(page, 'Runs').waitFor({ timeout: 30_000 });
    // While the extension activates and its trees load, the views show progress bars (and, for a
    // moment, "There is no data provider registered" and the Runs welcome text): wait for them to
    // settle so the screenshot shows what the user ends up seeing.
    await page
      .locator('.part.sidebar .pane-body', { hasText: 'no data provider registered' })
      .first()
      .waitFor({ state: 'detached', timeout: 60_000 });
    await page
      .locator('.part.sidebar .monaco-progress-container.active')
      .first()
      .waitFor({ state: 'hidden', timeout: 60_000 });
    await screenshot(page, '02-contrastive-lab-views');
    assert.match((await title.textContent()) ?? '', /contrastive lab/i);
  });

  it('lists the fixture runs in the Runs view', async () => {
    for (const name of FIXTURE_RUNS) {
      await treeRow(page, 'Runs', name).waitFor({ timeout: 30_000 });
    }
    await screenshot(page, '03-runs');
    const rows = await treeRows(page, 'Runs').allInnerTexts();
    for (const name of FIXTURE_RUNS) {
      assert.ok(
        rows.some((r) => r.includes(name)),
        `Runs view shows ${name}; rows: ${JSON.stringify(rows)}`,
      );
    }
  });

  it('expands a run to show its checkpoints', async () => {
    // tiny config: 64 images / batch 16 = 4 steps per epoch, a checkpoint after each of 2 epochs.
    const run = treeRow(page, 'Runs', 'tiny-a');
    if ((await run.getAttribute('aria-expanded')) !== 'true') await run.locator('.monaco-tl-twistie').click();
    await treeRow(page, 'Runs', 'step 8').waitFor({ timeout: 30_000 });
    await treeRow(page, 'Runs', 'step 4').waitFor({ timeout: 30_000 });
    assert.equal(await run.getAttribute('aria-expanded'), 'true');
    await screenshot(page, '04-run-checkpoints');
  });

  it('lists the methods in the Methods view', async () => {
    const row = treeRows(page, 'Methods', /SimCLR/i).first();
    await row.waitFor({ timeout: 60_000 });
    await screenshot(page, '05-methods');
    assert.ok(await row.isVisible());
  });

  // Next UI tests (open a run's charts, the config editor, start a run) go here or in new
  // test/e2e/*.test.ts files, reusing the helpers in test/vscode/workbench.ts.
});
