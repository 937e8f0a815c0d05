/**
 * Chart redraw with a million points, in Debian's chromium (headless, software rendering) on the
 * real charts bundle (dist/webview/charts.js), fed the way the extension feeds it: an `init`
 * message with the run's metrics as columns. Timed through the page's own probe
 * (`__charts.redraw`): decimation, smoothing, chart.js update and canvas drawing of one chart.
 * Baseline in the same page: the same redraw handing chart.js every point.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM } from '../../test/vscode/browser';
import { ROOT } from '../../test/vscode/codeServer';

export interface RedrawResult {
  points: number;
  /** Median over `repeats` redraws, ms. */
  decimatedMs: number;
  fullMs: number;
  drawnPoints: number[];
  /** Time from posting `init` (1M points as columns) to the charts ready, ms. */
  initMs: number;
}

const PAGE = (bundle: string) => `<!doctype html><html><head><meta charset="utf-8">
<style>body{width:1200px} .grid{display:grid;grid-template-columns:1fr} .chart-canvas{height:300px;position:relative}</style>
<script>window.acquireVsCodeApi=()=>({postMessage(m){(window.__posted=window.__posted||[]).push(m)},getState(){return undefined},setState(){}});</script>
</head><body><div id="app"></div><script src="${bundle}"></script></body></html>`;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

export async function measureRedraw(points = 1_000_000, repeats = 5): Promise<RedrawResult> {
  const bundle = path.join(ROOT, 'dist', 'webview', 'charts.js');
  if (!fs.existsSync(bundle)) throw new Error(`${bundle} is missing: run \`npm run build\` first`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-bench-redraw-'));
  const html = path.join(dir, 'charts.html');
  fs.writeFileSync(html, PAGE(`file://${bundle}`));
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--allow-file-access-from-files'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    await page.goto(`file://${html}`);
    await page.waitForFunction(() => (window as unknown as { __charts?: unknown }).__charts !== undefined);
    // A string, not a function: the bundler that runs this file would wrap named closures in
    // a helper the page does not have.
    const initMs = (await page.evaluate(`(async (n) => {
      const step = new Float64Array(n), epoch = new Float64Array(n), time = new Float64Array(n), y = new Float64Array(n);
      let a = 12345;
      for (let i = 0; i < n; i++) {
        step[i] = i + 1;
        epoch[i] = (i + 1) / 1000;
        time[i] = 1.7e9 + i * 0.05;
        a = (Math.imul(a, 1103515245) + 12345) >>> 0;
        y[i] = 4 * Math.exp(-i / 200000) + (a / 2 ** 32) * 0.5;
      }
      const t = performance.now();
      window.postMessage({ type: 'init', runs: [{ id: 'r', name: 'r' }], rows: { r: [] },
        series: { r: { loss: { step, epoch, time, y } } } }, '*');
      await new Promise((resolve) => {
        const check = () => document.getElementById('app').dataset.state === 'ready' ? resolve() : setTimeout(check, 5);
        check();
      });
      await new Promise((r) => requestAnimationFrame(() => r(null)));
      return performance.now() - t;
    })(${points})`)) as number;
    const api = 'window.__charts';
    const timeOne = (decimate: boolean) =>
      page.evaluate(`${api}.redraw('loss', ${decimate})`) as Promise<number>;
    // One warm-up each, then alternate so both see the same machine load.
    await timeOne(true);
    await timeOne(false);
    const dec: number[] = [];
    const full: number[] = [];
    for (let i = 0; i < repeats; i++) {
      dec.push(await timeOne(true));
      full.push(await timeOne(false));
    }
    await timeOne(true);
    const drawnPoints = (await page.evaluate(`${api}.drawn('loss')`)) as number[];
    return { points, decimatedMs: median(dec), fullMs: median(full), drawnPoints, initMs };
  } finally {
    await browser.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
