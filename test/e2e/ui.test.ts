/**
 * What a user sees: a real VS Code (code-server 4.100.3) in headless chromium, the extension
 * installed (the repository linked into a fresh extensions folder, as a .vsix install would place
 * it), a workspace whose runs/ holds two runs trained by the real trainer. Clicks through the UI
 * and takes screenshots into test-results/screenshots/ (look at them when something changes).
 *
 * `npm run test:e2e` (mocha with test/e2e/.mocharc.json).
 */
import * as assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { type Browser, launchBrowser } from '../vscode/browser';
import { type CodeServer, ROOT, startCodeServer } from '../vscode/codeServer';
import { ensureBuilt, FIXTURE_RUNS, makeWorkspace, type Workspace } from '../vscode/fixture';
import { activityBarEntry, extensionHostLog, openWorkbench, screenshot, viewHeader, viewPane } from '../vscode/workbench';

describe('Contrastive Lab in the VS Code UI', function () {
  this.timeout(180_000);
  let ws: Workspace | undefined;
  let cs: CodeServer | undefined;
  let browser: Browser | undefined;
  let page: Page;

  before(async () => {
    ensureBuilt();
    ws = makeWorkspace('cl-e2e-ws-');
    cs = await startCodeServer({ workspace: ws.dir, install: [ROOT] });
    browser = await launchBrowser();
    page = browser.page;
    await openWorkbench(page, cs.url());
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && browser) {
      const name = `failed-${this.currentTest.title.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}`;
      const file = await screenshot(page, name).catch(() => undefined);
      console.error(`      screenshot: ${file}`);
      if (cs) console.error(`--- extension host log (tail) ---\n${extensionHostLog(cs.userDataDir).slice(-4000)}`);
    }
  });

  after(async () => {
    await browser?.close();
    await cs?.stop(!!process.env.CL_KEEP_TMP);
    if (!process.env.CL_KEEP_TMP) ws?.dispose();
  });

  it('shows a Contrastive Lab entry in the activity bar', async () => {
    const entry = activityBarEntry(page, 'Contrastive Lab');
    await entry.waitFor({ timeout: 60_000 });
    await screenshot(page, '01-workbench');
    assert.ok(await entry.isVisible());
  });

  it('opens the side bar with the Methods and Runs views', async () => {
    await activityBarEntry(page, 'Contrastive Lab').click();
    const title = page.locator('.part.sidebar .composite.title h2');
    await title.filter({ hasText: /contrastive lab/i }).waitFor({ timeout: 30_000 });
    await viewHeader(page, 'Methods').waitFor({ timeout: 30_000 });
    await viewHeader(page, 'Runs').waitFor({ timeout: 30_000 });
    await screenshot(page, '02-contrastive-lab-views');
    assert.match((await title.textContent()) ?? '', /contrastive lab/i);
  });

  it('lists the fixture runs in the Runs view', async () => {
    const runs = viewPane(page, 'Runs');
    // Expand the view if VS Code collapsed it.
    if ((await viewHeader(page, 'Runs').getAttribute('aria-expanded')) === 'false') {
      await viewHeader(page, 'Runs').click();
    }
    for (const name of FIXTURE_RUNS) {
      await runs.locator('.monaco-list-row', { hasText: name }).first().waitFor({ timeout: 30_000 });
    }
    await screenshot(page, '03-runs');
    const rows = await runs.locator('.monaco-list-row').allInnerTexts();
    for (const name of FIXTURE_RUNS) {
      assert.ok(
        rows.some((r) => r.includes(name)),
        `Runs view shows ${name}; rows: ${JSON.stringify(rows)}`,
      );
    }
  });

  it('lists the methods in the Methods view', async () => {
    const methods = viewPane(page, 'Methods');
    const row = methods.locator('.monaco-list-row', { hasText: /SimCLR/i }).first();
    await row.waitFor({ timeout: 60_000 });
    await screenshot(page, '04-methods');
    assert.ok(await row.isVisible());
  });

  // Next UI tests (open a run's charts, the config editor, start a run) go here or in new
  // test/e2e/*.test.ts files, reusing the helpers in test/vscode/workbench.ts.
});
