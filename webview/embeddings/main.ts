/**
 * Embeddings webview (browser only): the test images' embeddings as a 2-D scatter (chart.js, one
 * dataset per class, coloured by class with a legend that hides classes), a PCA/UMAP toggle, a
 * preview of the hovered point's image with its class and index, and for ViT checkpoints the last
 * block's [CLS] attention over the patch grid of the first few images.
 */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import {
  Chart,
  type ChartDataset,
  type ChartEvent,
  LinearScale,
  PointElement,
  ScatterController,
} from 'chart.js';
import {
  type EmbeddingsData,
  type EmbeddingsFromWebview,
  type EmbeddingsProjection,
  isEmbeddingsToWebview,
} from './messages';
import {
  availableProjections,
  type ClassPoints,
  classColour,
  decodeBase64,
  embeddingsProblem,
  heatmapRgba,
  imageRgba,
  meanMap,
  pointsByClass,
} from './points';

Chart.register(ScatterController, PointElement, LinearScale);

interface VsCodeApi {
  postMessage(msg: EmbeddingsFromWebview): void;
  getState(): unknown;
  setState(state: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

const vscode = acquireVsCodeApi();
const send = (m: EmbeddingsFromWebview) => vscode.postMessage(m);
window.addEventListener('error', (e) => send({ type: 'webviewError', text: String(e.message ?? e) }));
window.addEventListener('unhandledrejection', (e) => send({ type: 'webviewError', text: String(e.reason) }));

interface ViewState {
  projection: EmbeddingsProjection;
  hidden: number[];
}
const saved = (vscode.getState() ?? {}) as Partial<ViewState>;
const view: ViewState = {
  projection: saved.projection === 'umap' ? 'umap' : 'pca',
  hidden: Array.isArray(saved.hidden) ? saved.hidden.filter((x) => typeof x === 'number') : [],
};
const saveState = () => vscode.setState(view);

function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | undefined> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined) e.setAttribute(k, v);
  e.append(...children);
  return e;
}

function cssVar(name: string, fallback: string): string {
  return getComputedStyle(document.body).getPropertyValue(name).trim() || fallback;
}

// ---- page ------------------------------------------------------------------------------------

const app = document.getElementById('app') ?? document.body.appendChild(h('div', { id: 'app' }));
const titleEl = h('h1', { class: 'title' }, 'Embeddings');
const subtitleEl = h('div', { class: 'subtitle muted' });
const statusEl = h(
  'div',
  { class: 'status', role: 'status', 'data-testid': 'status' },
  'Computing embeddings…',
);
const barEl = h('div', { class: 'bar' });
const progressEl = h('div', { class: 'progress', role: 'progressbar' }, barEl);
const pcaButton = h('button', { type: 'button', class: 'seg', 'data-testid': 'proj-pca' }, 'PCA');
const umapButton = h('button', { type: 'button', class: 'seg', 'data-testid': 'proj-umap' }, 'UMAP');
const recompute = document.createElement('vscode-button') as HTMLElement;
recompute.setAttribute('secondary', '');
recompute.textContent = 'Recompute';
recompute.title = 'Run the embed worker again on this checkpoint';
const infoEl = h('span', { class: 'muted', 'data-testid': 'info' });
const toolbar = h(
  'div',
  { class: 'toolbar' },
  h('span', { class: 'segmented', role: 'group', 'aria-label': 'Projection' }, pcaButton, umapButton),
  infoEl,
  h('span', { class: 'spacer' }),
  recompute,
);
const canvas = h('canvas', { 'data-testid': 'scatter' });
const plot = h('div', { class: 'plot' }, canvas);
const legendEl = h('div', { class: 'legend', 'data-testid': 'legend' });
const previewCanvas = h('canvas', { class: 'preview-image', 'data-testid': 'preview-image' });
const previewText = h(
  'div',
  { class: 'preview-text', 'data-testid': 'preview-text' },
  'Hover a point to see its image.',
);
const preview = h('div', { class: 'preview' }, previewCanvas, previewText);
const side = h('aside', { class: 'side' }, preview, legendEl);
const main = h('div', { class: 'main' }, plot, side);
const attentionEl = h('section', { class: 'attention', 'data-testid': 'attention' });
toolbar.hidden = true;
main.hidden = true;
attentionEl.hidden = true;
app.append(h('header', {}, titleEl, subtitleEl), statusEl, progressEl, toolbar, main, attentionEl);
progressEl.hidden = true;

// ---- data ------------------------------------------------------------------------------------

let data: EmbeddingsData | null = null;
let classes: ClassPoints[] = [];
let pixels: Uint8Array | null = null;
let chart: Chart<'scatter', { x: number; y: number; i: number }[]> | null = null;
let drawnPoints = 0;
let hovered: number | null = null;

function setStatus(text: string, kind: 'info' | 'error' | 'none' = 'info'): void {
  statusEl.textContent = text;
  statusEl.className = `status ${kind}`;
  statusEl.hidden = kind === 'none';
}

function load(d: EmbeddingsData, file: string): void {
  const problem = embeddingsProblem(d);
  if (problem) {
    setStatus(`Cannot show ${file}: ${problem}`, 'error');
    return;
  }
  data = d;
  classes = pointsByClass(d);
  pixels = d.images?.pixelsBase64 ? decodeBase64(d.images.pixelsBase64) : null;
  const have = availableProjections(d);
  if (!have.includes(view.projection)) view.projection = have[0];
  titleEl.textContent = `Embeddings · ${d.method} step ${d.step}`;
  subtitleEl.textContent = `${d.checkpoint} · ${file}`;
  setStatus('', 'none');
  progressEl.hidden = true;
  toolbar.hidden = false;
  main.hidden = false;
  renderToolbar();
  renderLegend();
  renderScatter();
  renderAttention();
  hovered = null;
  showPreview(null);
}

// ---- toolbar ---------------------------------------------------------------------------------

function renderToolbar(): void {
  if (!data) return;
  const have = availableProjections(data);
  for (const [b, p] of [
    [pcaButton, 'pca'],
    [umapButton, 'umap'],
  ] as const) {
    b.classList.toggle('on', view.projection === p);
    b.setAttribute('aria-pressed', String(view.projection === p));
    b.title = have.includes(p)
      ? `Show the ${p.toUpperCase()} projection`
      : `Compute ${p.toUpperCase()} (runs the embed worker)`;
  }
  const pca = data.projections.pca;
  const umap = data.projections.umap;
  infoEl.textContent =
    view.projection === 'pca' && pca
      ? `${data.labels.length} points · explained variance ${(100 * pca.explainedVariance[0]).toFixed(1)}% + ${(100 * pca.explainedVariance[1]).toFixed(1)}%`
      : umap
        ? `${data.labels.length} points · UMAP ${umap.nNeighbors} neighbours, min dist ${umap.minDist}`
        : `${data.labels.length} points`;
}

function choose(p: EmbeddingsProjection): void {
  if (!data) return;
  if (!data.projections[p]) {
    setStatus(`Computing ${p.toUpperCase()}…`);
    send({ type: 'recompute', umap: true });
    view.projection = p;
    saveState();
    return;
  }
  view.projection = p;
  saveState();
  renderToolbar();
  renderScatter();
}
pcaButton.addEventListener('click', () => choose('pca'));
umapButton.addEventListener('click', () => choose('umap'));
recompute.addEventListener('click', () => {
  setStatus('Computing embeddings…');
  send({ type: 'recompute', umap: !!data?.projections.umap || view.projection === 'umap' });
});

// ---- legend ----------------------------------------------------------------------------------

function renderLegend(): void {
  legendEl.replaceChildren();
  for (const c of classes) {
    const swatch = h('span', { class: 'swatch' });
    swatch.style.backgroundColor = classColour(c.label);
    const item = h(
      'button',
      {
        type: 'button',
        class: 'legend-item',
        title: `Show or hide ${c.name}`,
        'data-label': String(c.label),
      },
      swatch,
      h('span', { class: 'name' }, c.name),
      h('span', { class: 'muted count' }, String(c.points.length)),
    );
    item.classList.toggle('off', view.hidden.includes(c.label));
    item.addEventListener('click', () => {
      const i = view.hidden.indexOf(c.label);
      if (i >= 0) view.hidden.splice(i, 1);
      else view.hidden.push(c.label);
      item.classList.toggle('off', i < 0);
      saveState();
      renderScatter();
    });
    legendEl.append(item);
  }
}

// ---- scatter ---------------------------------------------------------------------------------

function datasets(): ChartDataset<'scatter', { x: number; y: number; i: number }[]>[] {
  const proj = data?.projections[view.projection];
  if (!data || !proj) return [];
  // Smaller dots as the cloud gets denser, so classes stay visible where they overlap.
  const n = data.labels.length;
  const radius = n > 1500 ? 1.6 : n > 300 ? 2.4 : 3.5;
  return classes.map((c) => ({
    label: c.name,
    data: view.hidden.includes(c.label) ? [] : c.points.map((i) => ({ x: proj.x[i], y: proj.y[i], i })),
    backgroundColor: classColour(c.label),
    borderWidth: 0,
    pointRadius: radius,
    pointHoverRadius: radius + 2.5,
    pointHoverBorderWidth: 1.5,
    pointHoverBorderColor: cssVar('--vscode-editor-foreground', '#ccc'),
  }));
}

function renderScatter(): void {
  const sets = datasets();
  drawnPoints = sets.reduce((n, s) => n + s.data.length, 0);
  if (chart) {
    chart.data.datasets = sets;
    chart.update('none');
    return;
  }
  const muted = cssVar('--vscode-descriptionForeground', '#999');
  const grid = cssVar('--vscode-charts-lines', 'rgba(128,128,128,0.15)');
  chart = new Chart<'scatter', { x: number; y: number; i: number }[]>(canvas, {
    type: 'scatter',
    data: { datasets: sets },
    options: {
      animation: false,
      parsing: false,
      normalized: true,
      responsive: true,
      maintainAspectRatio: false,
      events: ['mousemove', 'mouseout', 'click'],
      interaction: { mode: 'nearest', intersect: false },
      scales: {
        x: { grid: { color: grid }, border: { color: grid }, ticks: { color: muted, maxTicksLimit: 8 } },
        y: { grid: { color: grid }, border: { color: grid }, ticks: { color: muted, maxTicksLimit: 8 } },
      },
      plugins: { legend: { display: false }, tooltip: { enabled: false } },
      onHover: (_e: ChartEvent, active) => {
        const a = active[0];
        const raw = a
          ? (chart?.data.datasets[a.datasetIndex]?.data[a.index] as { i: number } | undefined)
          : undefined;
        const i = raw?.i ?? null;
        if (i !== hovered) {
          hovered = i;
          showPreview(i);
        }
      },
    },
  });
}

// ---- hover preview ---------------------------------------------------------------------------

/** Paints image `k` of the file onto `target`, scaled up with square pixels. */
function paintImage(target: HTMLCanvasElement, k: number, size: number): boolean {
  const im = data?.images;
  if (!im || !pixels || (k + 1) * im.height * im.width * im.channels > pixels.length) return false;
  const src = document.createElement('canvas');
  src.width = im.width;
  src.height = im.height;
  src
    .getContext('2d')!
    .putImageData(
      new ImageData(imageRgba(pixels, k, im.height, im.width, im.channels), im.width, im.height),
      0,
      0,
    );
  const scale = Math.max(1, Math.floor(size / Math.max(im.width, im.height)));
  target.width = im.width * scale;
  target.height = im.height * scale;
  const ctx = target.getContext('2d')!;
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(src, 0, 0, target.width, target.height);
  return true;
}

function showPreview(i: number | null): void {
  if (!data || i === null) {
    previewCanvas.hidden = true;
    previewText.textContent = 'Hover a point to see its image.';
    return;
  }
  previewCanvas.hidden = !paintImage(previewCanvas, i, 140);
  const label = data.labels[i];
  const name = data.classNames[label] ?? `class ${label}`;
  previewText.replaceChildren(
    h('div', { class: 'preview-class' }, h('span', { class: 'swatch' }), name),
    h('div', { class: 'muted' }, `test image #${data.indices[i]} · point ${i}`),
  );
  const sw = previewText.querySelector('.swatch') as HTMLElement;
  sw.style.backgroundColor = classColour(label);
}

// ---- attention -------------------------------------------------------------------------------

function paintMap(map: readonly number[], gh: number, gw: number, size: number): HTMLCanvasElement {
  const src = document.createElement('canvas');
  src.width = gw;
  src.height = gh;
  src.getContext('2d')!.putImageData(new ImageData(heatmapRgba(map), gw, gh), 0, 0);
  const out = document.createElement('canvas');
  const scale = Math.max(1, Math.floor(size / Math.max(gw, gh)));
  out.width = gw * scale;
  out.height = gh * scale;
  const ctx = out.getContext('2d')!;
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(src, 0, 0, out.width, out.height);
  return out;
}

function renderAttention(): void {
  attentionEl.replaceChildren();
  const att = data?.attention;
  attentionEl.hidden = !att?.maps.length;
  if (!data || !att || attentionEl.hidden) return;
  attentionEl.append(
    h('h2', {}, 'Attention of [CLS] in the last block'),
    h(
      'div',
      { class: 'muted' },
      `${att.heads} heads over a ${att.gridH} × ${att.gridW} patch grid; brighter is more attention`,
    ),
  );
  att.points.forEach((p, r) => {
    const maps = att.maps[r] ?? [];
    const img = document.createElement('canvas');
    paintImage(img, p, 72);
    const label = data!.classNames[data!.labels[p]] ?? '';
    const cells = [
      h('figure', {}, img, h('figcaption', {}, `#${data!.indices[p]} ${label}`)),
      h('figure', {}, paintMap(meanMap(maps), att.gridH, att.gridW, 72), h('figcaption', {}, 'mean')),
      ...maps.map((m, k) =>
        h('figure', {}, paintMap(m, att.gridH, att.gridW, 72), h('figcaption', {}, `head ${k + 1}`)),
      ),
    ];
    attentionEl.append(h('div', { class: 'attention-row' }, ...cells));
  });
}

// ---- messages --------------------------------------------------------------------------------

window.addEventListener('message', (e: MessageEvent) => {
  const msg = e.data as unknown;
  if (!isEmbeddingsToWebview(msg)) return;
  switch (msg.type) {
    case 'embeddings':
      load(msg.data, msg.file);
      app.dataset.state = 'ready';
      break;
    case 'progress':
      progressEl.hidden = false;
      barEl.style.width = `${(100 * msg.fraction).toFixed(1)}%`;
      setStatus(
        `Computing embeddings in a worker process… ${Math.floor(100 * msg.fraction)}% ${msg.message}`,
      );
      break;
    case 'error':
      progressEl.hidden = true;
      setStatus(msg.message, msg.cancelled ? 'info' : 'error');
      // A cancelled UMAP request leaves the projection that is there.
      if (data && !data.projections[view.projection]) {
        view.projection = availableProjections(data)[0];
        renderToolbar();
        renderScatter();
      }
      break;
  }
});

// ---- test hooks ------------------------------------------------------------------------------

/** Read-only probes for end-to-end tests, which cannot read points off a canvas. */
const testApi = {
  pointsDrawn: (): number => drawnPoints,
  projection: (): EmbeddingsProjection => view.projection,
  classes: (): { name: string; points: number }[] =>
    classes.map((c) => ({ name: c.name, points: c.points.length })),
  /** Opaque pixels of the scatter canvas in one of the shown classes' colours: the points as drawn. */
  classPixels: (): number => {
    const ctx = canvas.getContext('2d');
    if (!ctx) return 0;
    const colours = classes.map((c) => {
      const hex = classColour(c.label);
      return [1, 3, 5].map((o) => Number.parseInt(hex.slice(o, o + 2), 16));
    });
    const px = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    let n = 0;
    for (let i = 0; i < px.length; i += 4) {
      if (px[i + 3] !== 255) continue;
      for (const [r, g, b] of colours)
        if (Math.abs(px[i] - r) + Math.abs(px[i + 1] - g) + Math.abs(px[i + 2] - b) <= 6) {
          n++;
          break;
        }
    }
    return n;
  },
  /** Where point `i` is drawn, in CSS pixels from the scatter canvas's top-left corner. */
  pointPosition: (i: number): { x: number; y: number } | null => {
    const proj = data?.projections[view.projection];
    if (!chart || !proj) return null;
    return { x: chart.scales.x.getPixelForValue(proj.x[i]), y: chart.scales.y.getPixelForValue(proj.y[i]) };
  },
  /** The hovered point, or null. */
  hovered: (): number | null => hovered,
};
(window as unknown as { __embeddings: typeof testApi }).__embeddings = testApi;

send({ type: 'ready' });
