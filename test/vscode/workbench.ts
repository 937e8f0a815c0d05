/**
 * Helpers for driving the VS Code 1.100 web workbench with playwright, and for reading the logs
 * code-server writes when something fails.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { FrameLocator, Locator, Page } from 'playwright-core';
import { ROOT } from './codeServer';

export const SCREENSHOTS = path.join(ROOT, 'test-results', 'screenshots');

/** Opens the workbench at `url` and waits until it and its extensions are up. */
export async function openWorkbench(page: Page, url: string, timeoutMs = 90_000): Promise<void> {
  await page.goto(url);
  await page.locator('.monaco-workbench').waitFor({ timeout: timeoutMs });
  // The activity bar is filled once the extension host has registered the contributed containers.
  await page.locator('.part.activitybar').waitFor({ timeout: timeoutMs });
}

/** The activity bar entry whose label starts with `title` (e.g. "Contrastive Lab"). */
export function activityBarEntry(page: Page, title: string): Locator {
  return page.locator(`.part.activitybar [aria-label^="${title}"]`).first();
}

function headerText(name: string): RegExp {
  return new RegExp(`^\\s*${name}\\b`, 'i');
}

/** The header of the view `name` (e.g. "Runs") in the side bar. */
export function viewHeader(page: Page, name: string): Locator {
  return page.locator('.part.sidebar .pane-header', { hasText: headerText(name) }).first();
}

/** The pane (header and body) of the view `name` in the side bar. */
export function viewPane(page: Page, name: string): Locator {
  // `has` is matched inside each pane, so its locator must not repeat the `.part.sidebar` prefix.
  return page
    .locator('.part.sidebar .pane', { has: page.locator('.pane-header', { hasText: headerText(name) }) })
    .first();
}

/** The rows of a tree view, e.g. `treeRows(page, 'Runs', 'tiny-a')`. */
export function treeRows(page: Page, view: string, hasText?: string | RegExp): Locator {
  return viewPane(page, view).locator('.monaco-list-row', hasText === undefined ? {} : { hasText });
}

/** The row of a tree view whose label (not description) is exactly `label`. */
export function treeRow(page: Page, view: string, label: string | RegExp): Locator {
  const exact =
    typeof label === 'string'
      ? new RegExp(`^\\s*${label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*$`)
      : label;
  return treeRows(page, view)
    .filter({ has: page.locator('.label-name', { hasText: exact }) })
    .first();
}

/** Runs a command through the command palette, e.g. `Contrastive Lab: Refresh Runs`. */
export async function runCommand(page: Page, label: string): Promise<void> {
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor();
  await input.fill(`>${label}`);
  await page.locator('.quick-input-list .monaco-list-row', { hasText: label }).first().waitFor();
  await page.keyboard.press('Enter');
}

export async function screenshot(page: Page, name: string): Promise<string> {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  const file = path.join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

/** Concatenated extension host logs under a code-server user-data folder (for failure reports). */
export function extensionHostLog(userDataDir: string): string {
  const out: string[] = [];
  const walk = (d: string) => {
    if (!fs.existsSync(d)) return;
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/exthost|remoteagent|Contrastive/i.test(p) && p.endsWith('.log')) {
        out.push(`== ${path.relative(userDataDir, p)}\n${fs.readFileSync(p, 'utf8')}`);
      }
    }
  };
  walk(path.join(userDataDir, 'logs'));
  return out.join('\n');
}

/**
 * The content of the webview the user sees now (a custom editor or a panel such as the charts).
 * Every webview is two iframes deep (`iframe.webview` > `#active-frame`), and hidden webviews keep
 * their iframes, so the visible outer one is picked.
 */
export function activeWebview(page: Page): FrameLocator {
  return page
    .locator('iframe.webview.ready')
    .filter({ visible: true })
    .first()
    .contentFrame()
    .locator('#active-frame')
    .contentFrame();
}

/** The editor tab whose label is `label` (e.g. `config.json`, `Charts: my-run`). */
export function editorTab(page: Page, label: string | RegExp): Locator {
  return page.locator('.part.editor .tabs-container .tab', { hasText: label }).first();
}

/** Clicks an inline action (the icon shown on hover) of a tree row, e.g. "New Run from This Method". */
export async function clickInlineAction(row: Locator, title: string): Promise<void> {
  await row.hover();
  const action = row.locator(`.actions [aria-label="${title}"]`).first();
  await action.waitFor({ state: 'visible' });
  await action.click();
}

/** The quick input (command palette, quick pick, input box) and its text field. */
export function quickInput(page: Page): { widget: Locator; input: Locator; rows: Locator } {
  const widget = page.locator('.quick-input-widget');
  return {
    widget,
    input: widget.locator('input').first(),
    rows: widget.locator('.quick-input-list .monaco-list-row'),
  };
}
