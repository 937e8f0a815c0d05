/**
 * Charts webview (browser only). One chart.js line chart per metric; the extension sends rows
 * (`init`, then `append` with only new rows) and this page keeps full-resolution typed arrays,
 * smooths them, and draws a min/max-decimated copy sized to each chart's width and zoom.
 */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-checkbox/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import {
  Chart,
  type ChartDataset,
  type ChartOptions,
  LinearScale,
  LineController,
  LineElement,
  LogarithmicScale,
  PointElement,
  Ticks,
  Tooltip,
  type TooltipItem,
} from 'chart.js';
import zoomPlugin from 'chartjs-plugin-zoom';
import { CompareView, storeSummaries } from './compareView';
import { bucketsForWidth, minMaxDecimate, visibleRange } from './decimate';
import { formatDuration, formatValue, niceTicks, withAlpha } from './format';
import type {
  ChartRow,
  ChartRun,
  ChartSeriesBlock,
  ChartsFromWebview,
  ChartsUiState,
  ChartsXAxis,
  ChartsZoom,
} from './messages';
import { isChartsToWebview } from './messages';
import { ChartStore, orderMetrics } from './series';

Chart.register(LineController, LineElement, PointElement, LinearScale, LogarithmicScale, Tooltip, zoomPlugin);

interface VsCodeApi {
  postMessage(msg: ChartsFromWebview): void;
  getState(): unknown;
  setState(state: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

/** A drawn point; `i` indexes the full-resolution series (for the raw value in the tooltip). */
interface Pt {
  x: number;
  y: number;
  i: number;
}

type LineChart = Chart<'line', Pt[]>;

interface ChartView {
  metric: string;
  card: HTMLElement;
  value: HTMLElement;
  chart: LineChart;
  /** Datasets 2r (raw) and 2r+1 (smoothed) belong to run store.order[r]. */
  runIds: string[];
  visible: boolean;
  /** Points drawn at the last render, per dataset (for tests and the curious). */
  drawn: number[];
}

const vscode = acquireVsCodeApi();
const store = new ChartStore();
const views = new Map<string, ChartView>();
const state: ChartsUiState = loadState(vscode.getState());

const X_LABELS: Record<ChartsXAxis, string> = { step: 'Step', epoch: 'Epoch', time: 'Relative time' };
const RAW_ALPHA_WHEN_SMOOTHED = 0.25;

// ---- state ----------------------------------------------------------------------------------

function loadState(raw: unknown): ChartsUiState {
  const s = (typeof raw === 'object' && raw !== null ? raw : {}) as Partial<ChartsUiState>;
  const smoothing =
    typeof s.smoothing === 'number' && s.smoothing >= 0 && s.smoothing < 1 ? s.smoothing : 0.6;
  const xAxis: ChartsXAxis = s.xAxis === 'epoch' || s.xAxis === 'time' ? s.xAxis : 'step';
  return {
    version: 1,
    smoothing,
    logScale: s.logScale === true,
    xAxis,
    zoom: typeof s.zoom === 'object' && s.zoom !== null ? s.zoom : {},
    hiddenRuns: Array.isArray(s.hiddenRuns) ? s.hiddenRuns.filter((x) => typeof x === 'string') : [],
    runIds: Array.isArray(s.runIds) ? s.runIds.filter((x) => typeof x === 'string') : [],
  };
}

function saveState(): void {
  vscode.setState(state);
}

// ---- theme ----------------------------------------------------------------------------------

interface Theme {
  fg: string;
  muted: string;
  grid: string;
  focus: string;
  font: string;
  fontSize: number;
  palette: string[];
}

const PALETTE_VARS: [string, string][] = [
  ['--vscode-charts-blue', '#3794ff'],
  ['--vscode-charts-orange', '#d18616'],
  ['--vscode-charts-green', '#89d185'],
  ['--vscode-charts-purple', '#b180d7'],
  ['--vscode-charts-red', '#f14c4c'],
  ['--vscode-charts-yellow', '#cca700'],
];
/** After the theme's six chart colours, compare mode continues with fixed, distinct ones. */
const EXTRA_COLOURS = ['#17becf', '#e377c2', '#8c564b', '#bcbd22', '#7f7f7f', '#9edae5'];

let theme: Theme = readTheme();

function cssVar(name: string, fallback: string): string {
  const v =
    getComputedStyle(document.documentElement).getPropertyValue(name).trim() ||
    getComputedStyle(document.body).getPropertyValue(name).trim();
  return v || fallback;
}

function readTheme(): Theme {
  const fg = cssVar('--vscode-editor-foreground', cssVar('--vscode-foreground', '#cccccc'));
  return {
    fg,
    muted: cssVar('--vscode-descriptionForeground', withAlpha(fg, 0.7)),
    grid: cssVar('--vscode-charts-lines', withAlpha(fg, 0.12)),
    focus: cssVar('--vscode-focusBorder', '#007fd4'),
    font: cssVar('--vscode-font-family', 'system-ui, sans-serif'),
    fontSize: Number.parseFloat(cssVar('--vscode-font-size', '12')) || 12,
    palette: [...PALETTE_VARS.map(([v, f]) => cssVar(v, f)), ...EXTRA_COLOURS],
  };
}

function runColour(index: number): string {
  return theme.palette[index % theme.palette.length];
}

function applyThemeDefaults(): void {
  Chart.defaults.color = theme.muted;
  Chart.defaults.borderColor = theme.grid;
  Chart.defaults.font.family = theme.font;
  Chart.defaults.font.size = Math.max(10, theme.fontSize - 1);
}

// ---- DOM ------------------------------------------------------------------------------------

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: { className?: string; text?: string; testid?: string } = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (props.className) e.className = props.className;
  if (props.text !== undefined) e.textContent = props.text;
  if (props.testid) e.dataset.testid = props.testid;
  e.append(...children);
  return e;
}

const app = document.getElementById('app') ?? document.body.appendChild(el('div'));
const toolbar = el('div', { className: 'toolbar' });
const legend = el('div', { className: 'legend', testid: 'legend' });
const notices = el('div', { className: 'notices' });
const grid = el('div', { className: 'grid' });
const empty = el('div', { className: 'empty', text: 'Waiting for metrics…' });
const compare = new CompareView(store, (r) => runColour(r));
app.append(toolbar, legend, compare.root, notices, grid, empty);

const smoothingInput = el('input', { testid: 'smoothing' });
smoothingInput.type = 'range';
smoothingInput.min = '0';
smoothingInput.max = '0.99';
smoothingInput.step = '0.01';
smoothingInput.value = String(state.smoothing);
const smoothingValue = el('span', { className: 'smoothing-value', text: state.smoothing.toFixed(2) });

const xSelect = document.createElement('vscode-single-select') as HTMLElement & { value: string };
xSelect.dataset.testid = 'x-axis';
for (const axis of Object.keys(X_LABELS) as ChartsXAxis[]) {
  const opt = document.createElement('vscode-option') as HTMLElement & { value: string; selected: boolean };
  opt.setAttribute('value', axis);
  opt.textContent = X_LABELS[axis];
  if (axis === state.xAxis) opt.setAttribute('selected', '');
  xSelect.append(opt);
}

const logBox = document.createElement('vscode-checkbox') as HTMLElement & { checked: boolean };
logBox.dataset.testid = 'log-scale';
logBox.setAttribute('label', 'Log scale');
logBox.checked = state.logScale;

const resetButton = document.createElement('vscode-button') as HTMLElement & { secondary: boolean };
resetButton.dataset.testid = 'reset-zoom';
resetButton.setAttribute('secondary', '');
resetButton.textContent = 'Reset zoom';

const exportButton = document.createElement('vscode-button') as HTMLElement;
exportButton.dataset.testid = 'export-csv';
exportButton.setAttribute('secondary', '');
exportButton.title = "Save the runs' metrics as one CSV table";
exportButton.textContent = 'Export CSV';
exportButton.addEventListener('click', () => vscode.postMessage({ type: 'exportCsv' }));

toolbar.append(
  el('label', { className: 'control' }, 'Smoothing', smoothingInput, smoothingValue),
  el('label', { className: 'control' }, 'X axis', xSelect),
  el('span', { className: 'control' }, logBox),
  resetButton,
  exportButton,
  el('span', {
    className: 'hint',
    text: 'Drag: zoom · Shift+drag: pan · Alt+wheel: zoom · Double-click: reset',
  }),
);

// ---- rendering ------------------------------------------------------------------------------

const dirty = new Set<ChartView>();
let frame = 0;
let streamTimer: ReturnType<typeof setTimeout> | undefined;
let lastFlush = 0;
/**
 * Streaming redraws wait at least 4x what the last one cost (so drawing takes at most a fifth
 * of the page's time, however fast the trainer writes) but never more than 250 ms, and never
 * less than 50 ms. A fixed 250 ms made every point wait up to 250 ms before it was drawn, over
 * the 250 ms notification-to-chart target on its own; a decimated redraw costs a few ms.
 */
const STREAM_MIN_MS = 50;
const STREAM_MAX_MS = 250;
let renderCostMs = 0;

function streamInterval(): number {
  return Math.min(STREAM_MAX_MS, Math.max(STREAM_MIN_MS, 4 * renderCostMs));
}

/** Wall times (ms) of points appended and not yet drawn: measured against when they are drawn. */
const arrivals: number[] = [];
/** Notification-to-drawn latencies in ms (the newest 10,000), for the benchmark. */
const latencies: number[] = [];

function noteArrivals(rows: ChartRow[] | undefined, series: ChartSeriesBlock | undefined): void {
  for (const r of rows ?? []) if (typeof r.time === 'number') arrivals.push(r.time * 1000);
  for (const k in series ?? {}) {
    const t = series![k].time;
    // A big batch (a file read) counts by its newest points only.
    for (let i = Math.max(0, t.length - 1000); i < t.length; i++) arrivals.push(t[i] * 1000);
  }
  if (arrivals.length > 20_000) arrivals.splice(0, arrivals.length - 20_000);
}

function settleArrivals(): void {
  if (!arrivals.length) return;
  const now = Date.now();
  for (const t of arrivals) latencies.push(now - t);
  arrivals.length = 0;
  if (latencies.length > 10_000) latencies.splice(0, latencies.length - 10_000);
}

function markDirty(v: ChartView, urgent: boolean): void {
  dirty.add(v);
  schedule(urgent);
}

function schedule(urgent: boolean): void {
  if (frame) return;
  if (urgent) {
    if (streamTimer) clearTimeout(streamTimer);
    streamTimer = undefined;
    frame = requestAnimationFrame(flush);
    return;
  }
  if (streamTimer) return;
  const wait = Math.max(0, lastFlush + streamInterval() - performance.now());
  streamTimer = setTimeout(() => {
    streamTimer = undefined;
    if (!frame) frame = requestAnimationFrame(flush);
  }, wait);
}

function flush(): void {
  frame = 0;
  const t0 = performance.now();
  lastFlush = t0;
  let drew = false;
  for (const v of [...dirty]) {
    // Charts scrolled out of view wait until they are visible again.
    if (!v.visible) continue;
    dirty.delete(v);
    render(v);
    drew = true;
  }
  if (drew) {
    renderCostMs = performance.now() - t0;
    settleArrivals();
  }
}

/** Off only in the benchmark, for its baseline: every point handed to chart.js. */
let decimationOn = true;

function pick(
  xs: Float64Array,
  ys: Float64Array,
  buckets: number,
  opts: { from: number; to: number },
): Uint32Array {
  if (decimationOn) return minMaxDecimate(xs, ys, buckets, opts);
  const all = new Uint32Array(opts.to - opts.from);
  for (let i = 0; i < all.length; i++) all[i] = opts.from + i;
  return all;
}

function zoomedX(chart: LineChart): [number, number] | null {
  const x = chart.options.scales?.x;
  return typeof x?.min === 'number' && typeof x?.max === 'number' ? [x.min, x.max] : null;
}

function toPoints(xs: Float64Array, ys: Float64Array, idx: Uint32Array, xOffset: number, log: boolean): Pt[] {
  const pts = new Array<Pt>(idx.length);
  for (let k = 0; k < idx.length; k++) {
    const i = idx[k];
    const y = ys[i];
    // A log axis cannot place y <= 0; NaN leaves a gap instead of a line to -infinity.
    pts[k] = { x: xs[i] - xOffset, y: log && y <= 0 ? Number.NaN : y, i };
  }
  return pts;
}

function render(v: ChartView): void {
  const chart = v.chart;
  const area = chart.chartArea;
  const width = area ? area.right - area.left : chart.canvas.clientWidth;
  const buckets = bucketsForWidth(width);
  const zoom = zoomedX(chart);
  const weight = state.smoothing;
  const axis = state.xAxis;
  v.drawn = [];
  v.runIds.forEach((runId, r) => {
    const raw = chart.data.datasets[2 * r];
    const smooth = chart.data.datasets[2 * r + 1];
    const s = store.runs.get(runId)?.series.get(v.metric);
    const colour = runColour(r);
    raw.borderColor = weight > 0 ? withAlpha(colour, RAW_ALPHA_WHEN_SMOOTHED) : colour;
    raw.backgroundColor = raw.borderColor;
    smooth.borderColor = colour;
    smooth.backgroundColor = colour;
    if (!s?.length || state.hiddenRuns.includes(runId)) {
      raw.data = [];
      smooth.data = [];
      v.drawn.push(0, 0);
      return;
    }
    const off = store.xOffset(runId, axis);
    const xs = s.x(axis);
    let opts: { from: number; to: number; xMin?: number; xMax?: number } = { from: 0, to: s.length };
    if (zoom) {
      // Only the visible slice is decimated, so zooming in reveals full detail.
      opts = {
        ...visibleRange(xs, zoom[0] + off, zoom[1] + off, s.length),
        xMin: zoom[0] + off,
        xMax: zoom[1] + off,
      };
    }
    raw.data = toPoints(xs, s.y, pick(xs, s.y, buckets, opts), off, state.logScale);
    if (weight > 0) {
      // Smoothed on every point first, decimated after: the curve does not change with zoom.
      const ys = s.smoothed(weight);
      smooth.data = toPoints(xs, ys, pick(xs, ys, buckets, opts), off, state.logScale);
    } else {
      smooth.data = [];
    }
    // Markers only where there are few points to mark.
    raw.pointRadius = raw.data.length <= 60 ? 2 : 0;
    smooth.pointRadius = smooth.data.length <= 60 ? 2 : 0;
    v.drawn.push(raw.data.length, smooth.data.length);
  });
  updateValue(v);
  chart.update('none');
}

function updateValue(v: ChartView): void {
  if (store.order.length !== 1) {
    v.value.textContent = '';
    return;
  }
  const s = store.runs.get(store.order[0])?.series.get(v.metric);
  const last = s?.lastValue;
  const smoothed =
    s && state.smoothing > 0 && s.length ? s.smoothed(state.smoothing)[s.length - 1] : undefined;
  v.value.textContent =
    last === undefined
      ? ''
      : smoothed === undefined
        ? formatValue(last)
        : `${formatValue(smoothed)} (raw ${formatValue(last)})`;
}

// ---- charts ---------------------------------------------------------------------------------

const visibility = new IntersectionObserver((entries) => {
  for (const e of entries) {
    const v = views.get((e.target as HTMLElement).dataset.metric ?? '');
    if (!v) continue;
    v.visible = e.isIntersecting;
    if (v.visible && dirty.has(v)) schedule(true);
  }
});

function xTitle(): string {
  return state.xAxis === 'time' ? 'Relative time' : X_LABELS[state.xAxis];
}

function xTickLabel(value: number | string): string {
  const n = Number(value);
  if (state.xAxis === 'time') return formatDuration(n);
  return Number.isInteger(n) ? n.toLocaleString('en-US') : String(Number(n.toPrecision(4)));
}

type YScaleOptions = NonNullable<ChartOptions<'line'>['scales']>['y'];

function yScaleOptions(): YScaleOptions {
  return {
    type: state.logScale ? 'logarithmic' : 'linear',
    grid: { color: theme.grid },
    border: { color: theme.grid },
    ticks: {
      color: theme.muted,
      // No labels for the zoom's exact (unround) limits.
      includeBounds: false,
      callback(value, index, ticks) {
        // chart.js's log formatter blanks the minor ticks (keeps 1, 2, 3, 5 x 10^n); we only
        // reformat the labels it keeps.
        if (state.logScale && Ticks.formatters.logarithmic.call(this, Number(value), index, ticks) === '')
          return '';
        const v = Number(value);
        if (!state.logScale && ticks.length > 1) {
          // Enough decimals to tell neighbouring ticks apart (a narrow range such as an lr of
          // 0.2496..0.2500 otherwise prints the same label on every tick).
          const step = Math.abs(ticks[1].value - ticks[0].value);
          if (step > 0 && Math.abs(v) < 1e5) {
            const decimals = Math.max(0, Math.min(10, -Math.floor(Math.log10(step)) + 1));
            return v
              .toFixed(decimals)
              .replace(/(\.\d*?)0+$/, '$1')
              .replace(/\.$/, '');
          }
        }
        return formatValue(v);
      },
    },
  };
}

function datasetsFor(): ChartDataset<'line', Pt[]>[] {
  const sets: ChartDataset<'line', Pt[]>[] = [];
  for (const runId of store.order) {
    const name = store.runs.get(runId)?.run.name ?? runId;
    // Faint raw curve behind the smoothed one (order: higher draws first, i.e. behind).
    sets.push({ label: `${name} (raw)`, data: [], borderWidth: 1, order: 1 });
    sets.push({ label: name, data: [], borderWidth: 1.5, order: 0 });
  }
  return sets;
}

function tooltipLabel(v: ChartView, item: TooltipItem<'line'>): string {
  const r = Math.floor(item.datasetIndex / 2);
  const runId = v.runIds[r];
  const name = store.runs.get(runId)?.run.name ?? runId;
  const p = item.raw as Pt;
  const y = formatValue(p.y);
  if (state.smoothing > 0 && item.datasetIndex % 2 === 1) {
    const s = store.runs.get(runId)?.series.get(v.metric);
    return `${name}: ${y} (raw ${formatValue(s?.y[p.i])})`;
  }
  return `${name}: ${y}`;
}

function createView(metric: string): ChartView {
  const title = el('span', { className: 'chart-title', text: metric });
  const value = el('span', { className: 'chart-value' });
  const canvas = el('canvas');
  const card = el(
    'div',
    { className: 'chart-card', testid: `chart-${metric}` },
    el('div', { className: 'chart-head' }, title, value),
    el('div', { className: 'chart-canvas' }, canvas),
  );
  card.dataset.metric = metric;
  insertCard(metric, card);

  // The view object exists before the chart so chart callbacks can refer to it.
  const v = {
    metric,
    card,
    value,
    runIds: [...store.order],
    visible: true,
    drawn: [],
  } as unknown as ChartView;
  v.chart = new Chart<'line', Pt[]>(canvas, {
    type: 'line',
    data: { datasets: datasetsFor() },
    options: {
      animation: false,
      parsing: false,
      normalized: true,
      responsive: true,
      maintainAspectRatio: false,
      spanGaps: false,
      interaction: { mode: 'nearest', axis: 'x', intersect: false },
      elements: {
        // Plain values, set per dataset in render(): a scriptable option here makes chart.js
        // resolve options point by point (about half of a redraw's time with 4,000 points).
        point: { radius: 0, hoverRadius: 3, hitRadius: 4 },
        line: { tension: 0 },
      },
      scales: {
        x: {
          type: 'linear',
          bounds: 'data',
          title: { display: true, text: xTitle(), color: theme.muted },
          grid: { color: theme.grid },
          border: { color: theme.grid },
          ticks: { color: theme.muted, maxRotation: 0, callback: (value) => xTickLabel(value) },
          afterBuildTicks: (scale) => {
            const max = Math.max(2, Math.floor(scale.width / 70));
            scale.ticks = niceTicks(scale.min, scale.max, max, state.xAxis === 'time').map((value) => ({
              value,
            }));
          },
        },
        y: yScaleOptions(),
      },
      plugins: {
        legend: { display: false },
        tooltip: {
          // With smoothing on, one line per run (the smoothed one; its label shows the raw value).
          filter: (item) => (state.smoothing > 0 ? item.datasetIndex % 2 === 1 : item.datasetIndex % 2 === 0),
          callbacks: {
            title: (items) =>
              items.length ? `${X_LABELS[state.xAxis]} ${xTickLabel(items[0].parsed.x ?? 0)}` : '',
            label: (item) => tooltipLabel(v, item),
          },
        },
        zoom: {
          zoom: {
            wheel: { enabled: true, modifierKey: 'alt' },
            drag: {
              enabled: true,
              threshold: 5,
              borderColor: theme.focus,
              borderWidth: 1,
              backgroundColor: withAlpha(theme.focus, 0.15),
            },
            mode: 'xy',
            onZoom: () => markDirty(v, true),
            onZoomComplete: () => onZoomChanged(v),
          },
          pan: {
            enabled: true,
            modifierKey: 'shift',
            mode: 'xy',
            onPan: () => markDirty(v, true),
            onPanComplete: () => onZoomChanged(v),
          },
        },
      },
      onResize: () => markDirty(v, true),
    },
  });
  canvas.addEventListener('dblclick', () => {
    v.chart.resetZoom('none');
    delete state.zoom[metric];
    saveState();
    markDirty(v, true);
  });
  views.set(metric, v);
  visibility.observe(card);
  restoreZoom(v);
  return v;
}

function insertCard(metric: string, card: HTMLElement): void {
  const order = orderMetrics([...views.keys(), metric]);
  const next = order[order.indexOf(metric) + 1];
  const before = next ? views.get(next)?.card : undefined;
  grid.insertBefore(card, before ?? null);
}

function onZoomChanged(v: ChartView): void {
  const b = v.chart.getZoomedScaleBounds();
  const z: ChartsZoom = { xAxis: state.xAxis, logScale: state.logScale };
  if (b.x) z.x = [b.x.min, b.x.max];
  if (b.y) z.y = [b.y.min, b.y.max];
  if (z.x || z.y) state.zoom[v.metric] = z;
  else delete state.zoom[v.metric];
  saveState();
  markDirty(v, true);
}

function restoreZoom(v: ChartView): void {
  const z = state.zoom[v.metric];
  if (!z) return;
  // A zoom made on another x axis or y scale means nothing here.
  if (z.xAxis !== state.xAxis || z.logScale !== state.logScale) {
    delete state.zoom[v.metric];
    return;
  }
  if (z.x) v.chart.zoomScale('x', { min: z.x[0], max: z.x[1] }, 'none');
  if (z.y) v.chart.zoomScale('y', { min: z.y[0], max: z.y[1] }, 'none');
}

function destroyView(v: ChartView): void {
  visibility.unobserve(v.card);
  v.chart.destroy();
  v.card.remove();
  views.delete(v.metric);
  dirty.delete(v);
}

/** Creates charts for new metrics, and rebuilds all of them when the set of runs changed. */
function syncViews(): void {
  const metrics = store.metrics();
  for (const v of [...views.values()]) {
    const sameRuns = v.runIds.join('\n') === store.order.join('\n');
    if (!metrics.includes(v.metric) || !sameRuns) destroyView(v);
  }
  for (const m of metrics) if (!views.has(m)) createView(m);
  empty.hidden = metrics.length > 0;
  for (const v of views.values()) markDirty(v, true);
}

function renderLegend(): void {
  legend.replaceChildren();
  legend.hidden = store.order.length < 2;
  if (legend.hidden) return;
  store.order.forEach((runId, r) => {
    const name = store.runs.get(runId)?.run.name ?? runId;
    const swatch = el('span', { className: 'swatch' });
    swatch.style.backgroundColor = runColour(r);
    const item = el('button', { className: 'legend-item', testid: `legend-${runId}` }, swatch, name);
    item.type = 'button';
    item.title = `Show or hide ${name}`;
    item.classList.toggle('off', state.hiddenRuns.includes(runId));
    item.addEventListener('click', () => {
      const i = state.hiddenRuns.indexOf(runId);
      if (i >= 0) state.hiddenRuns.splice(i, 1);
      else state.hiddenRuns.push(runId);
      item.classList.toggle('off', i < 0);
      saveState();
      for (const v of views.values()) markDirty(v, true);
    });
    legend.append(item);
  });
}

function notice(text: string): void {
  const close = el('button', { className: 'notice-close', text: '×' });
  close.type = 'button';
  close.title = 'Dismiss';
  const n = el('div', { className: 'notice' }, el('span', { text }), close);
  close.addEventListener('click', () => n.remove());
  notices.append(n);
  while (notices.childElementCount > 5) notices.firstElementChild?.remove();
}

// ---- controls -------------------------------------------------------------------------------

smoothingInput.addEventListener('input', () => {
  state.smoothing = Math.min(0.99, Math.max(0, Number(smoothingInput.value) || 0));
  smoothingValue.textContent = state.smoothing.toFixed(2);
  for (const v of views.values()) markDirty(v, true);
});
smoothingInput.addEventListener('change', saveState);

xSelect.addEventListener('change', () => {
  const axis = xSelect.value as ChartsXAxis;
  if (!(axis in X_LABELS) || axis === state.xAxis) return;
  state.xAxis = axis;
  // Zoom limits are in the old axis's units.
  state.zoom = {};
  for (const v of views.values()) {
    v.chart.resetZoom('none');
    const x = v.chart.options.scales?.x;
    if (x?.title) x.title.text = xTitle();
    markDirty(v, true);
  }
  saveState();
});

logBox.addEventListener('change', () => {
  state.logScale = logBox.checked;
  for (const v of views.values()) {
    // Keep the x zoom; a y zoom made on the other scale type does not carry over.
    const x = zoomedX(v.chart);
    v.chart.resetZoom('none');
    if (v.chart.options.scales) v.chart.options.scales.y = yScaleOptions();
    v.chart.update('none');
    if (x) v.chart.zoomScale('x', { min: x[0], max: x[1] }, 'none');
    onZoomChanged(v);
  }
  saveState();
});

resetButton.addEventListener('click', () => {
  state.zoom = {};
  for (const v of views.values()) {
    v.chart.resetZoom('none');
    markDirty(v, true);
  }
  saveState();
});

// ---- theme changes --------------------------------------------------------------------------

function onThemeChanged(): void {
  theme = readTheme();
  applyThemeDefaults();
  for (const v of views.values()) {
    // Assign single properties: replacing a scale's options would drop its zoom limits.
    for (const scale of [v.chart.options.scales?.x, v.chart.options.scales?.y]) {
      if (!scale) continue;
      if (scale.grid) scale.grid.color = theme.grid;
      if (scale.border) scale.border.color = theme.grid;
      if (scale.ticks) scale.ticks.color = theme.muted;
      if (scale.title) scale.title.color = theme.muted;
    }
    const drag = v.chart.options.plugins?.zoom?.zoom?.drag;
    if (drag) {
      drag.borderColor = theme.focus;
      drag.backgroundColor = withAlpha(theme.focus, 0.15);
    }
    markDirty(v, true);
  }
  renderLegend();
}
// VS Code swaps the body class and the --vscode-* variables when the colour theme changes.
new MutationObserver(onThemeChanged).observe(document.body, { attributes: true, attributeFilter: ['class'] });
new MutationObserver(onThemeChanged).observe(document.documentElement, {
  attributes: true,
  attributeFilter: ['style', 'class'],
});

// ---- messages -------------------------------------------------------------------------------

function onInit(
  runs: ChartRun[],
  rows: Record<string, ChartRow[]>,
  series: Record<string, ChartSeriesBlock> | undefined,
  configs?: Record<string, unknown>,
): void {
  store.init(runs, rows, series);
  compare.setConfigs(configs);
  state.runIds = runs.map((r) => r.id);
  state.hiddenRuns = state.hiddenRuns.filter((id) => state.runIds.includes(id));
  saveState();
  renderLegend();
  syncViews();
  app.dataset.state = 'ready';
}

function onAppend(runId: string, rows: ChartRow[] | undefined, series: ChartSeriesBlock | undefined): void {
  const changed = rows ? store.append(runId, rows) : new Set<string>();
  if (series) for (const m of store.appendSeries(runId, series)) changed.add(m);
  noteArrivals(rows, series);
  if (!changed.size) return;
  compare.changed();
  const before = views.size;
  for (const m of changed) if (!views.has(m)) createView(m);
  if (views.size !== before) empty.hidden = true;
  for (const m of changed) {
    const v = views.get(m);
    if (v) markDirty(v, views.size !== before);
  }
}

function onReset(runId: string): void {
  compare.changed();
  for (const m of store.reset(runId)) {
    const v = views.get(m);
    if (v) markDirty(v, true);
  }
}

window.addEventListener('message', (event: MessageEvent) => {
  const msg = event.data;
  if (!isChartsToWebview(msg)) return;
  switch (msg.type) {
    case 'init':
      onInit(msg.runs, msg.rows, msg.series, msg.configs);
      break;
    case 'append':
      onAppend(msg.runId, msg.rows, msg.series);
      break;
    case 'reset':
      onReset(msg.runId);
      break;
    case 'warning': {
      const name = msg.runId ? (store.runs.get(msg.runId)?.run.name ?? msg.runId) : '';
      notice(name ? `${name}: ${msg.text}` : msg.text);
      break;
    }
  }
});

window.addEventListener('error', (e) => vscode.postMessage({ type: 'error', text: String(e.message) }));
window.addEventListener('unhandledrejection', (e) =>
  vscode.postMessage({ type: 'error', text: String((e as PromiseRejectionEvent).reason) }),
);

// ---- test hooks -----------------------------------------------------------------------------

/** Read-only probes for end-to-end tests, which cannot read values off a canvas. */
const testApi = {
  metrics: (): string[] => store.metrics(),
  series: (metric: string): { runId: string; points: number }[] =>
    store.series(metric).map((s) => ({ runId: s.runId, points: s.length })),
  lastValue: (metric: string, runId: string): number | undefined =>
    store.runs.get(runId)?.series.get(metric)?.lastValue,
  /** Points drawn per dataset (raw, smoothed per run) at the last render: decimation at work. */
  drawn: (metric: string): number[] => views.get(metric)?.drawn ?? [],
  xRange: (metric: string): [number, number] | null => {
    const c = views.get(metric)?.chart;
    return c ? [c.scales.x.min, c.scales.x.max] : null;
  },
  state: (): ChartsUiState => JSON.parse(JSON.stringify(state)),
  /** The compare view's summary: per metric, per run (store order) last/best/min/max. */
  summary: () => storeSummaries(store),
  /**
   * Redraws one chart now and returns what it took in ms (decimation, smoothing, chart.js
   * update and canvas drawing); `decimate: false` hands chart.js every point (the baseline).
   */
  redraw: (metric: string, decimate = true): number => {
    const v = views.get(metric);
    if (!v) return Number.NaN;
    decimationOn = decimate;
    try {
      const t = performance.now();
      render(v);
      return performance.now() - t;
    } finally {
      decimationOn = true;
    }
  },
  /** Notification-to-drawn latencies (ms) of streamed points, oldest first. */
  latencies: (): number[] => [...latencies],
};
(window as unknown as { __charts: typeof testApi }).__charts = testApi;

applyThemeDefaults();
vscode.postMessage({ type: 'ready' });
