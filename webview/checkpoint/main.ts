/**
 * Checkpoint webview (browser only): the metadata of a `.safetensors` file, its embedded config,
 * and a table of its tensors grouped by network with statistics and a histogram sparkline per
 * tensor; sortable by any column, filterable by name. The extension sends the header first and
 * the statistics when its worker process has them. Rows are drawn in chunks, so tables of
 * thousands of tensors stay responsive.
 */
import {
  formatBytes,
  formatCompactCount,
  formatInt,
  formatNumber,
  formatPercent,
  formatShape,
  MISSING,
} from '../../trainer/inspect/format';
import {
  type CheckpointFromWebview,
  type CheckpointInspection,
  type CheckpointInspectionMessage,
  type CheckpointTensor,
  isCheckpointToWebview,
} from './messages';
import {
  buildRows,
  compileFilter,
  DEFAULT_SORT,
  type GroupRow,
  groupPrefix,
  histogramBins,
  nextSort,
  type SortKey,
  type SortState,
  sparklinePath,
  type TableRow,
  visibleRows,
} from './table';

interface VsCodeApi {
  postMessage(msg: CheckpointFromWebview): void;
  getState(): unknown;
  setState(state: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

const vscode = acquireVsCodeApi();
const send = (m: CheckpointFromWebview) => vscode.postMessage(m);

window.addEventListener('error', (e) => send({ type: 'webviewError', text: String(e.message ?? e) }));
window.addEventListener('unhandledrejection', (e) => send({ type: 'webviewError', text: String(e.reason) }));

// ---- persisted view state -------------------------------------------------------------------

interface ViewState {
  sort: SortState;
  filter: string;
  collapsed: string[];
}

function loadState(raw: unknown): ViewState {
  const s = (typeof raw === 'object' && raw !== null ? raw : {}) as Partial<ViewState>;
  return {
    sort: s.sort && typeof s.sort.key === 'string' ? s.sort : DEFAULT_SORT,
    filter: typeof s.filter === 'string' ? s.filter : '',
    collapsed: Array.isArray(s.collapsed) ? s.collapsed.filter((x) => typeof x === 'string') : [],
  };
}
const view = loadState(vscode.getState());
const saveState = () => vscode.setState(view);

// ---- DOM helpers ----------------------------------------------------------------------------

function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | undefined> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined) el.setAttribute(k, v);
  el.append(...children);
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

// ---- columns --------------------------------------------------------------------------------

interface Column {
  key: SortKey | null;
  label: string;
  cls: string;
  title: string;
}

const COLUMNS: Column[] = [
  { key: 'name', label: 'Name', cls: 'c-name', title: 'Tensor name' },
  { key: 'shape', label: 'Shape', cls: 'c-shape', title: 'Shape (sorts by element count)' },
  { key: 'dtype', label: 'Dtype', cls: 'c-dtype', title: 'Element type in the file' },
  { key: 'parameters', label: 'Params', cls: 'num c-params', title: 'Elements: the product of the shape' },
  { key: 'mean', label: 'Mean', cls: 'num', title: 'Mean of the finite values' },
  { key: 'std', label: 'Std', cls: 'num', title: 'Population standard deviation of the finite values' },
  { key: 'min', label: 'Min', cls: 'num', title: 'Smallest finite value' },
  { key: 'max', label: 'Max', cls: 'num', title: 'Largest finite value' },
  { key: 'l2', label: 'L2 norm', cls: 'num', title: 'sqrt(sum of squares) of the finite values' },
  { key: 'zeros', label: 'Zeros', cls: 'num', title: 'Share of elements that are exactly zero' },
  {
    key: null,
    label: 'Histogram',
    cls: 'c-hist',
    title: 'Distribution of the finite values between min and max',
  },
];

const SPARK_W = 84;
const SPARK_H = 18;

// ---- page skeleton --------------------------------------------------------------------------

const app = document.getElementById('app') ?? document.body.appendChild(h('div', { id: 'app' }));

const titleEl = h('h1', { class: 'title' });
const evaluateButton = h(
  'button',
  {
    type: 'button',
    class: 'button',
    'data-testid': 'evaluate',
    title: 'kNN, linear probe or zero-shot on the test split',
  },
  'Evaluate…',
);
evaluateButton.addEventListener('click', () => send({ type: 'evaluate' }));
const embedButton = h(
  'button',
  {
    type: 'button',
    class: 'button secondary',
    'data-testid': 'embed',
    title: 'PCA / UMAP of the test embeddings',
  },
  'Show Embeddings',
);
embedButton.addEventListener('click', () => send({ type: 'embed' }));
const actionsEl = h('div', { class: 'actions' }, evaluateButton, embedButton);
actionsEl.hidden = true;
const pathEl = h('div', { class: 'path' });
const badgesEl = h('div', { class: 'badges' });
const metaEl = h('dl', { class: 'meta', 'data-testid': 'metadata' });
const configEl = h('div', { class: 'config-box' });
const noticeEl = h('div', { class: 'notice', 'data-testid': 'notice', role: 'status' });
noticeEl.hidden = true;

const filterInput = h('input', {
  type: 'search',
  class: 'filter',
  'data-testid': 'filter',
  placeholder: 'Filter by name: text, or /regex/',
  'aria-label': 'Filter tensors by name',
  spellcheck: 'false',
});
filterInput.value = view.filter;
const filterError = h('span', { class: 'filter-error', role: 'alert' });
const countEl = h('span', { class: 'count', 'data-testid': 'count' });
const expandAll = h('button', { class: 'link', type: 'button' }, 'Expand all');
const collapseAll = h('button', { class: 'link', type: 'button' }, 'Collapse all');
const toolbar = h(
  'div',
  { class: 'toolbar' },
  filterInput,
  filterError,
  countEl,
  h('span', { class: 'spacer' }),
  expandAll,
  collapseAll,
);

const headRow = h('tr');
const thead = h('thead', {}, headRow);
const tbody = h('tbody');
const colgroup = h('colgroup');
const table = h('table', { class: 'tensors', 'data-testid': 'tensor-table' }, colgroup, thead, tbody);
const emptyEl = h('div', { class: 'empty' });
emptyEl.hidden = true;

const loadingEl = h('div', { class: 'loading', 'data-testid': 'loading' }, 'Reading the checkpoint…');

const metaPanel = h('section', { class: 'panel meta-panel', 'aria-label': 'Metadata' }, metaEl, configEl);
metaPanel.hidden = true;

app.append(
  h('header', { class: 'top' }, h('div', { class: 'heading' }, titleEl, badgesEl, actionsEl), pathEl),
  metaPanel,
  noticeEl,
  toolbar,
  h('div', { class: 'table-wrap' }, table),
  emptyEl,
  loadingEl,
);
toolbar.hidden = true;
table.hidden = true;

for (const col of COLUMNS) {
  colgroup.append(h('col', { class: col.cls.replace('num', '').trim() || `c-${col.key}` }));
  const th = h('th', { class: col.cls, scope: 'col', title: col.title });
  if (col.key) {
    const key = col.key;
    const btn = h(
      'button',
      { type: 'button', class: 'sort', 'data-sort': key },
      col.label,
      h('span', { class: 'arrow' }),
    );
    btn.addEventListener('click', () => {
      view.sort = nextSort(view.sort, key);
      saveState();
      renderHead();
      renderTable();
    });
    th.append(btn);
  } else th.append(col.label);
  headRow.append(th);
}

function renderHead(): void {
  headRow.querySelectorAll('th').forEach((th, i) => {
    const key = COLUMNS[i]!.key;
    const active = key !== null && key === view.sort.key;
    if (active) th.setAttribute('aria-sort', view.sort.dir === 'asc' ? 'ascending' : 'descending');
    else th.removeAttribute('aria-sort');
    const arrow = th.querySelector('.arrow');
    if (arrow) arrow.textContent = active ? (view.sort.dir === 'asc' ? ' ▲' : ' ▼') : '';
  });
}

// ---- state from the extension ---------------------------------------------------------------

let current: CheckpointInspection | null = null;
let lastMessage: CheckpointInspectionMessage | null = null;
let errorText: string | null = null;
let progress: { done: number; total: number } | null = null;

window.addEventListener('message', (e: MessageEvent) => {
  const msg = e.data as unknown;
  if (!isCheckpointToWebview(msg)) return;
  switch (msg.type) {
    case 'inspection':
      current = msg.data;
      lastMessage = msg;
      errorText = null;
      if (!msg.pending) progress = null;
      renderAll();
      break;
    case 'progress':
      progress = { done: msg.done, total: msg.total };
      renderNotice();
      break;
    case 'error':
      errorText = msg.message;
      progress = null;
      if (lastMessage) lastMessage = { ...lastMessage, pending: false };
      renderAll();
      break;
  }
});

function renderAll(): void {
  loadingEl.hidden = current !== null || errorText !== null;
  renderHeader();
  renderMeta();
  renderNotice();
  toolbar.hidden = current === null;
  table.hidden = current === null;
  renderHead();
  renderTable();
}

// ---- header and metadata --------------------------------------------------------------------

function basename(p: string): string {
  return p.split(/[\\/]/).pop() ?? p;
}

function badge(text: string, cls = ''): HTMLElement {
  return h('span', { class: `badge ${cls}`.trim() }, text);
}

function renderHeader(): void {
  const c = current;
  titleEl.textContent = c ? basename(c.file) : errorText !== null ? 'Cannot read this file' : 'Checkpoint';
  metaPanel.hidden = c === null;
  pathEl.textContent = c?.file ?? '';
  badgesEl.replaceChildren();
  // The tools load the model from the file's embedded config: only our own checkpoints have one.
  actionsEl.hidden = !c?.isContrastiveLabCheckpoint;
  if (!c) return;
  badgesEl.append(
    c.isContrastiveLabCheckpoint
      ? badge(`Contrastive Lab checkpoint v${c.metadata.formatVersion ?? '?'}`, 'accent')
      : badge('safetensors'),
    badge(formatBytes(c.bytes)),
    badge(`${formatInt(c.totals.tensors)} tensors`),
    badge(`${formatCompactCount(c.totals.parameters)} elements`),
  );
}

function metaItem(label: string, value: string | Node, title?: string): void {
  metaEl.append(h('dt', {}, label), h('dd', { title }, value));
}

const KNOWN_META = new Set([
  'format',
  'formatVersion',
  'method',
  'step',
  'epoch',
  'knnTop1',
  'createdAt',
  'backend',
  'config',
  'normalization',
  'metricsBytes',
]);

function renderMeta(): void {
  metaEl.replaceChildren();
  configEl.replaceChildren();
  const c = current;
  if (!c) return;
  const m = c.metadata;
  if (m.method !== undefined) metaItem('Method', m.method);
  if (m.step !== undefined) metaItem('Step', formatInt(m.step));
  if (m.epoch !== undefined) metaItem('Epoch', formatInt(m.epoch));
  if (m.knnTop1 !== undefined) metaItem('kNN top-1 at save', `${(m.knnTop1 * 100).toFixed(2)}%`);
  if (m.createdAt !== undefined) {
    const d = new Date(m.createdAt);
    metaItem('Created', Number.isNaN(d.getTime()) ? m.createdAt : d.toLocaleString(), m.createdAt);
  }
  if (m.backend !== undefined) metaItem('Backend', m.backend);
  if (m.normalization) {
    const list = (xs: number[]) => xs.map((x) => formatNumber(x)).join(', ');
    metaItem('Input normalization', `mean ${list(m.normalization.mean)} · std ${list(m.normalization.std)}`);
  }
  metaItem(
    'File',
    `${formatBytes(c.bytes)} (header ${formatBytes(c.headerBytes)}), ${formatInt(c.totals.tensors)} tensors, ` +
      `${formatInt(c.totals.parameters)} elements`,
  );
  if (!c.isContrastiveLabCheckpoint) {
    metaItem(
      'Format',
      m.format ? `safetensors, format '${m.format}'` : 'safetensors (not written by Contrastive Lab)',
    );
  }
  for (const [k, v] of Object.entries(m.raw)) {
    if (KNOWN_META.has(k) && c.isContrastiveLabCheckpoint) continue;
    if (k === 'format' && !c.isContrastiveLabCheckpoint) continue;
    metaItem(k, v.length > 160 ? `${v.slice(0, 157)}…` : v, v.length > 160 ? v : undefined);
  }
  for (const p of m.problems) metaItem('Warning', h('span', { class: 'warn' }, p));

  if (m.config !== undefined) {
    const details = h('details', { class: 'config', 'data-testid': 'config' });
    const copy = h('button', { type: 'button', class: 'link copy' }, 'Copy JSON');
    copy.addEventListener('click', (e) => {
      e.preventDefault();
      void navigator.clipboard?.writeText(JSON.stringify(m.config, null, 2)).then(() => {
        copy.textContent = 'Copied';
        setTimeout(() => (copy.textContent = 'Copy JSON'), 1200);
      });
    });
    const summary = h(
      'summary',
      {},
      h('span', { class: 'summary-title' }, 'Embedded config'),
      ' ',
      configSummary(m.config),
    );
    details.append(summary, h('div', { class: 'json-tools' }, copy), jsonTree(m.config, 0));
    if (lastMessage?.hasRunConfig) {
      const open = h('button', { type: 'button', class: 'link' }, "Open the run's config.json");
      open.addEventListener('click', () => send({ type: 'openRunConfig' }));
      details.querySelector('.json-tools')!.append(open);
    }
    configEl.append(details);
  }
}

function configSummary(config: unknown): HTMLElement {
  const c = (config ?? {}) as {
    method?: string;
    encoder?: { arch?: string; width?: number };
    dataset?: { kind?: string };
    training?: { epochs?: number; batchSize?: number };
  };
  const parts = [
    c.method,
    c.encoder?.arch ? `${c.encoder.arch}${c.encoder.width ? ` ×${c.encoder.width}` : ''}` : undefined,
    c.dataset?.kind,
    c.training?.epochs !== undefined ? `${c.training.epochs} epochs` : undefined,
    c.training?.batchSize !== undefined ? `batch ${c.training.batchSize}` : undefined,
  ].filter((x): x is string => typeof x === 'string' && x !== '');
  return h('span', { class: 'muted' }, parts.join(' · '));
}

/** The JSON as a tree of <details>; objects at depth ≤ 1 start open. */
function jsonTree(value: unknown, depth: number, key?: string): HTMLElement {
  const keyEl = () => (key === undefined ? [] : [h('span', { class: 'j-key' }, `${key}`), ': ']);
  if (value !== null && typeof value === 'object') {
    const entries = Array.isArray(value)
      ? value.map((v, i) => [String(i), v] as const)
      : Object.entries(value);
    const [open, close] = Array.isArray(value) ? ['[', ']'] : ['{', '}'];
    // Short arrays of numbers read best on one line.
    if (Array.isArray(value) && value.length <= 16 && value.every((v) => typeof v === 'number')) {
      return h('div', { class: 'j-row' }, ...keyEl(), h('span', { class: 'j-num' }, `[${value.join(', ')}]`));
    }
    const d = h('details', { class: 'j-node' });
    d.open = depth <= 1;
    d.append(
      h(
        'summary',
        {},
        ...keyEl(),
        open,
        h('span', { class: 'j-count' }, ` ${entries.length} ${Array.isArray(value) ? 'items' : 'keys'} `),
        close,
      ),
    );
    const body = h('div', { class: 'j-body' });
    for (const [k, v] of entries) body.append(jsonTree(v, depth + 1, k));
    d.append(body);
    return d;
  }
  const cls =
    typeof value === 'string'
      ? 'j-str'
      : typeof value === 'number'
        ? 'j-num'
        : typeof value === 'boolean'
          ? 'j-bool'
          : 'j-null';
  return h(
    'div',
    { class: 'j-row' },
    ...keyEl(),
    h('span', { class: cls }, JSON.stringify(value) ?? 'undefined'),
  );
}

// ---- notice (progress, trust, errors) -------------------------------------------------------

function renderNotice(): void {
  noticeEl.replaceChildren();
  noticeEl.className = 'notice';
  const msg = lastMessage;
  if (errorText !== null) {
    noticeEl.classList.add('error');
    noticeEl.append(h('span', { class: 'notice-text' }, errorText));
    if (current) noticeEl.append(computeButton('Try again'));
  } else if (msg?.pending) {
    const pct = progress && progress.total > 0 ? Math.min(100, (100 * progress.done) / progress.total) : 0;
    const bar = h('div', { class: 'bar' });
    bar.style.width = `${pct.toFixed(1)}%`;
    noticeEl.append(
      h('span', { class: 'notice-text' }, `Computing statistics in a worker process… ${Math.floor(pct)}%`),
      h('div', { class: 'progress', role: 'progressbar', 'aria-valuenow': pct.toFixed(0) }, bar),
    );
  } else if (msg?.note) {
    noticeEl.classList.add('info');
    noticeEl.append(h('span', { class: 'notice-text' }, msg.note));
    if (msg.canCompute) noticeEl.append(computeButton('Compute statistics'));
  } else {
    noticeEl.hidden = true;
    return;
  }
  noticeEl.hidden = false;
}

function computeButton(label: string): HTMLElement {
  const b = h('button', { type: 'button', class: 'button' }, label);
  b.addEventListener('click', () => send({ type: 'compute' }));
  return b;
}

// ---- table ----------------------------------------------------------------------------------

/** Above this many rows only those near the viewport are in the DOM (fixed row height). */
const VIRTUALIZE_ABOVE = 400;
/** Row height in the virtualised table; matches `.tensors.virtual tr` in checkpoint.css. */
const ROW_H = 24;
const OVERSCAN = 40;

let rows: TableRow[] = [];
let virtual = false;
let windowRange: [number, number] = [0, 0];
const topSpacer = h(
  'tr',
  { class: 'spacer', 'aria-hidden': 'true' },
  h('td', { colspan: String(COLUMNS.length) }),
);
const bottomSpacer = h(
  'tr',
  { class: 'spacer', 'aria-hidden': 'true' },
  h('td', { colspan: String(COLUMNS.length) }),
);

function renderTable(): void {
  tbody.replaceChildren();
  table.removeAttribute('data-complete');
  const c = current;
  if (!c) return;
  const filter = compileFilter(filterInput.value);
  filterInput.classList.toggle('invalid', !filter.ok);
  filterError.textContent = filter.ok ? '' : filter.error;
  const test = filter.ok ? filter.test : () => false;
  rows = buildRows(c.tensors, c.groups, test, view.sort, new Set(view.collapsed));
  const matching = c.tensors.reduce((n, t) => n + (test(t.name) ? 1 : 0), 0);
  countEl.textContent =
    matching === c.tensors.length
      ? `${formatInt(c.tensors.length)} tensors`
      : `${formatInt(matching)} of ${formatInt(c.tensors.length)} tensors`;
  emptyEl.hidden = matching > 0;
  emptyEl.textContent = c.tensors.length
    ? 'No tensor name matches the filter.'
    : 'This file holds no tensors.';

  // A few hundred rows are laid out once; thousands would make every layout slow, so then only
  // the rows near the viewport exist, between two spacers that keep the scroll height.
  virtual = rows.length > VIRTUALIZE_ABOVE;
  table.classList.toggle('virtual', virtual);
  if (virtual) updateWindow(true);
  else {
    const frag = document.createDocumentFragment();
    for (const r of rows) frag.append(rowElement(r, c));
    tbody.append(frag);
  }
  table.setAttribute('data-rows', String(rows.length));
  table.setAttribute('data-complete', 'true');
}

function updateWindow(force = false): void {
  const c = current;
  if (!virtual || !c) return;
  const want = visibleRows(tbody.getBoundingClientRect().top, window.innerHeight, rows.length, ROW_H);
  if (!force && want[0] >= windowRange[0] && want[1] <= windowRange[1]) return;
  // Render a margin beyond what is needed, so small scrolls do not re-render.
  const start = Math.max(0, want[0] - OVERSCAN);
  const end = Math.min(rows.length, want[1] + OVERSCAN);
  windowRange = [start, end];
  (topSpacer.firstChild as HTMLElement).style.height = `${start * ROW_H}px`;
  (bottomSpacer.firstChild as HTMLElement).style.height = `${(rows.length - end) * ROW_H}px`;
  const frag = document.createDocumentFragment();
  frag.append(topSpacer);
  for (let i = start; i < end; i++) frag.append(rowElement(rows[i]!, c));
  frag.append(bottomSpacer);
  tbody.replaceChildren(frag);
}

let windowQueued = false;
const queueWindow = () => {
  if (!virtual || windowQueued) return;
  windowQueued = true;
  requestAnimationFrame(() => {
    windowQueued = false;
    updateWindow();
  });
};
window.addEventListener('scroll', queueWindow, { passive: true });
window.addEventListener('resize', queueWindow);

function rowElement(row: TableRow, c: CheckpointInspection): HTMLTableRowElement {
  return row.type === 'group' ? groupRowElement(row, c) : tensorRowElement(row.tensor, c);
}

function groupRowElement(row: GroupRow, c: CheckpointInspection): HTMLTableRowElement {
  const t = row.totals;
  const twisty = h(
    'button',
    {
      type: 'button',
      class: 'twisty',
      'aria-expanded': String(!row.collapsed),
      title: row.collapsed ? 'Expand' : 'Collapse',
    },
    row.collapsed ? '▸' : '▾',
  );
  const toggle = () => {
    const set = new Set(view.collapsed);
    if (set.has(row.group)) set.delete(row.group);
    else set.add(row.group);
    view.collapsed = [...set];
    saveState();
    renderTable();
  };
  twisty.addEventListener('click', toggle);
  const shown =
    row.shown === t.tensors
      ? `${formatInt(t.tensors)} tensor${t.tensors === 1 ? '' : 's'}`
      : `${formatInt(row.shown)} of ${formatInt(t.tensors)} tensors`;
  const share = c.totals.parameters
    ? ` · ${formatPercent(t.parameters / c.totals.parameters)} of elements`
    : '';
  const tr = h(
    'tr',
    { class: 'group', 'data-testid': `group-${row.group}`, 'data-group': row.group },
    h(
      'td',
      { colspan: '3' },
      twisty,
      h('span', { class: 'group-name' }, row.group),
      h('span', { class: 'muted' }, ` ${shown}`),
    ),
    h(
      'td',
      {
        class: 'num',
        title: `${formatInt(t.parameters)} elements${t.buffers ? `, ${formatInt(t.buffers)} in buffers` : ''}`,
      },
      formatCompactCount(t.parameters),
    ),
    h(
      'td',
      { colspan: String(COLUMNS.length - 4), class: 'muted' },
      `${formatBytes(t.bytes)}${share}${t.buffers ? ` · ${formatInt(t.buffers)} in buffers` : ''}`,
    ),
  );
  tr.querySelector('td')!.addEventListener('dblclick', toggle);
  return tr;
}

function numCell(
  v: number | null | undefined,
  fmt: (x: number | null | undefined) => string = formatNumber,
): HTMLTableCellElement {
  return h('td', { class: 'num', title: v === null || v === undefined ? undefined : String(v) }, fmt(v));
}

function tensorRowElement(t: CheckpointTensor, c: CheckpointInspection): HTMLTableRowElement {
  const s = t.stats;
  const prefix = groupPrefix(t.name, t.group);
  const nameCell = h('td', { class: 'c-name' });
  const nameSpan = h('span', { class: 'name', title: nameTitle(t) });
  if (prefix) nameSpan.append(h('span', { class: 'prefix' }, prefix));
  nameSpan.append(t.name.slice(prefix.length));
  nameCell.append(nameSpan);
  if (t.kind === 'buffer')
    nameCell.append(
      ' ',
      h('span', { class: 'tag', title: 'Batch-norm running statistic, not trained by gradient' }, 'buffer'),
    );
  if (t.kind === 'state')
    nameCell.append(' ', h('span', { class: 'tag', title: 'Method state (queue, memory bank)' }, 'state'));
  if (s && s.finite < s.count) {
    const bad = [
      s.nan ? `${formatInt(s.nan)} NaN` : '',
      s.posInf + s.negInf ? `${formatInt(s.posInf + s.negInf)} ±Inf` : '',
    ]
      .filter(Boolean)
      .join(', ');
    nameCell.append(
      ' ',
      h('span', { class: 'tag bad', title: 'Non-finite values, left out of the statistics' }, bad),
    );
  }
  const histCell = h('td', { class: 'c-hist' });
  if (s?.histogram.counts.length) histCell.append(sparkline(s));
  else histCell.append(h('span', { class: 'muted' }, t.statsError ? 'n/a' : c.statsComputed ? MISSING : ''));
  if (t.statsError) histCell.title = t.statsError;
  return h(
    'tr',
    { 'data-testid': `tensor-row-${t.name}`, class: `kind-${t.kind}` },
    nameCell,
    h(
      'td',
      { class: 'c-shape', title: t.shape.length ? `[${t.shape.join(', ')}]` : 'scalar' },
      formatShape(t.shape),
    ),
    h('td', { class: 'c-dtype' }, t.dtype),
    h(
      'td',
      { class: 'num', title: `${formatInt(t.parameters)} elements, ${formatBytes(t.bytes)}` },
      formatInt(t.parameters),
    ),
    numCell(s?.mean),
    numCell(s?.std),
    numCell(s?.min),
    numCell(s?.max),
    numCell(s ? s.l2 : null),
    numCell(s ? s.zeroFraction : null, formatPercent),
    histCell,
  );
}

function nameTitle(t: CheckpointTensor): string {
  const kind = {
    parameter: 'parameter',
    buffer: 'buffer (batch-norm running statistic)',
    optimizer: 'optimizer slot',
    state: 'method state',
  }[t.kind];
  return `${t.name}\n${t.group} · ${kind}\n${formatBytes(t.bytes)}`;
}

function sparkline(s: NonNullable<CheckpointTensor['stats']>): SVGSVGElement {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('class', 'spark');
  svg.setAttribute('width', String(SPARK_W));
  svg.setAttribute('height', String(SPARK_H));
  svg.setAttribute('viewBox', `0 0 ${SPARK_W} ${SPARK_H}`);
  svg.setAttribute('role', 'img');
  const base = document.createElementNS(SVG_NS, 'path');
  base.setAttribute('class', 'spark-base');
  base.setAttribute('d', `M0 ${SPARK_H - 0.5}H${SPARK_W}`);
  const bars = document.createElementNS(SVG_NS, 'path');
  bars.setAttribute('class', 'spark-bars');
  bars.setAttribute('d', sparklinePath(s.histogram, SPARK_W, SPARK_H));
  // Zero on the axis, when the range spans it.
  if (s.histogram.min < 0 && s.histogram.max > 0) {
    const x = ((0 - s.histogram.min) / (s.histogram.max - s.histogram.min)) * SPARK_W;
    const zero = document.createElementNS(SVG_NS, 'path');
    zero.setAttribute('class', 'spark-zero');
    zero.setAttribute('d', `M${x.toFixed(2)} 0V${SPARK_H}`);
    svg.append(zero);
  }
  svg.append(base, bars);
  return svg;
}

// The histogram's tooltip (every bin's range and count) is built on first hover only.
tbody.addEventListener('mouseover', (e) => {
  const cell = (e.target as Element).closest?.('td.c-hist');
  if (!cell || cell.hasAttribute('title') || !current) return;
  const name = cell.parentElement?.getAttribute('data-testid')?.slice('tensor-row-'.length);
  const t = current.tensors.find((x) => x.name === name);
  const s = t?.stats;
  if (!s) return;
  const bins = histogramBins(s.histogram);
  const lines = bins.map(
    (b, i) =>
      `[${formatNumber(b.from)}, ${formatNumber(b.to)}${i === bins.length - 1 ? ']' : ')'}: ${formatInt(b.count)}`,
  );
  cell.setAttribute(
    'title',
    `${formatInt(s.finite)} finite values, ${s.histogram.counts.length} bins\n${lines.join('\n')}`,
  );
});

// ---- toolbar --------------------------------------------------------------------------------

let filterTimer: ReturnType<typeof setTimeout> | undefined;
filterInput.addEventListener('input', () => {
  clearTimeout(filterTimer);
  filterTimer = setTimeout(() => {
    view.filter = filterInput.value;
    saveState();
    renderTable();
  }, 80);
});
filterInput.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && filterInput.value) {
    filterInput.value = '';
    view.filter = '';
    saveState();
    renderTable();
  }
});
expandAll.addEventListener('click', () => {
  view.collapsed = [];
  saveState();
  renderTable();
});
collapseAll.addEventListener('click', () => {
  view.collapsed = current ? current.groups.map((g) => g.group) : [];
  saveState();
  renderTable();
});

// The column headers stick just below the sticky toolbar.
new ResizeObserver(() => {
  document.documentElement.style.setProperty('--toolbar-h', `${toolbar.offsetHeight}px`);
}).observe(toolbar);

renderHead();
send({ type: 'ready' });
