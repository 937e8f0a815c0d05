/**
 * The compare view's tables (browser only): the config keys that differ between the runs and a
 * summary of every metric per run (last, best, min, max), under the overlaid charts' legend.
 */
import { bestDirection, configDiff, type MetricSummary, summarizeSeries } from './compare';
import { formatValue } from './format';
import type { ChartStore } from './series';

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.append(...children);
  return e;
}

/** Summaries per metric, then per run in the store's order (undefined where a run lacks the metric). */
export function storeSummaries(
  store: ChartStore,
): { metric: string; perRun: (MetricSummary | undefined)[] }[] {
  return store.metrics().map((metric) => ({
    metric,
    perRun: store.order.map((id) => {
      const s = store.runs.get(id)?.series.get(metric);
      return s ? summarizeSeries(s.step, s.y, s.length, bestDirection(metric)) : undefined;
    }),
  }));
}

export class CompareView {
  readonly root = el('section', { class: 'compare', 'data-testid': 'compare' });
  private readonly diffBox = el('details', { class: 'compare-box', 'data-testid': 'config-diff', open: '' });
  private readonly summaryBox = el('details', { class: 'compare-box', 'data-testid': 'summary', open: '' });
  private configs: Record<string, unknown> = {};
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly store: ChartStore,
    private readonly colour: (runIndex: number) => string,
  ) {
    this.root.append(this.diffBox, this.summaryBox);
    this.root.hidden = true;
  }

  setConfigs(configs: Record<string, unknown> | undefined): void {
    this.configs = configs ?? {};
    this.render();
  }

  /** Rows streamed in: the summary follows at most once a second. */
  changed(): void {
    if (this.timer || this.root.hidden) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.renderSummary();
    }, 1000);
  }

  render(): void {
    this.root.hidden = this.store.order.length < 2;
    if (this.root.hidden) return;
    this.renderDiff();
    this.renderSummary();
  }

  private runHeader(): HTMLElement[] {
    return this.store.order.map((id, r) => {
      const swatch = el('span', { class: 'swatch' });
      swatch.style.backgroundColor = this.colour(r);
      return el('th', { scope: 'col' }, swatch, this.store.runs.get(id)?.run.name ?? id);
    });
  }

  private renderDiff(): void {
    const ids = this.store.order.filter((id) => id in this.configs);
    const rows = configDiff(ids.map((id) => this.configs[id]));
    const missing = this.store.order.length - ids.length;
    const title = el(
      'summary',
      {},
      el('span', { class: 'compare-title' }, 'Config differences'),
      el(
        'span',
        { class: 'muted' },
        ` ${rows.length} key${rows.length === 1 ? '' : 's'} differ${missing ? ` · ${missing} run(s) without a readable config.json` : ''}`,
      ),
    );
    this.diffBox.replaceChildren(title);
    if (!rows.length) {
      this.diffBox.append(el('div', { class: 'muted compare-empty' }, 'The configs are identical.'));
      return;
    }
    const head = el(
      'tr',
      {},
      el('th', { scope: 'col' }, 'Key'),
      ...this.runHeader().filter((_, r) => this.store.order[r] in this.configs),
    );
    const body = el('tbody');
    for (const row of rows) {
      body.append(
        el(
          'tr',
          { 'data-key': row.key },
          el('th', { scope: 'row', class: 'key' }, row.key),
          ...row.values.map((v) => el('td', { class: v === undefined ? 'muted' : '' }, v ?? '—')),
        ),
      );
    }
    this.diffBox.append(el('table', { class: 'compare-table' }, el('thead', {}, head), body));
  }

  private renderSummary(): void {
    const sums = storeSummaries(this.store);
    this.summaryBox.replaceChildren(
      el(
        'summary',
        {},
        el('span', { class: 'compare-title' }, 'Summary'),
        el('span', { class: 'muted' }, ' last · best (step) · min · max'),
      ),
    );
    if (!sums.length) return;
    const head = el(
      'tr',
      {},
      el('th', { scope: 'col' }, 'Metric'),
      el('th', { scope: 'col' }, 'Run'),
      ...['Last', 'Best', 'Min', 'Max'].map((h) => el('th', { scope: 'col', class: 'num' }, h)),
    );
    const body = el('tbody');
    for (const { metric, perRun } of sums) {
      const dir = bestDirection(metric);
      // The runs with the best value of this metric (ties included) get a mark.
      const bests = perRun.flatMap((s) => (s?.best === undefined ? [] : [s.best]));
      const top = bests.length ? (dir === 'max' ? Math.max(...bests) : Math.min(...bests)) : undefined;
      perRun.forEach((s, r) => {
        const id = this.store.order[r];
        const swatch = el('span', { class: 'swatch' });
        swatch.style.backgroundColor = this.colour(r);
        const cells = s
          ? [
              formatValue(s.last),
              s.best === undefined ? '—' : `${formatValue(s.best)} (${s.bestStep})`,
              formatValue(s.min),
              formatValue(s.max),
            ]
          : ['—', '—', '—', '—'];
        const tr = el(
          'tr',
          { 'data-metric': metric, 'data-run': id },
          ...(r === 0
            ? [el('th', { scope: 'rowgroup', rowspan: String(perRun.length), class: 'key' }, metric)]
            : []),
          el('td', {}, swatch, this.store.runs.get(id)?.run.name ?? id),
          ...cells.map((c, i) =>
            el(
              'td',
              {
                class: `num${i === 1 && s?.best !== undefined && s.best === top && bests.length > 1 ? ' best' : ''}`,
              },
              c,
            ),
          ),
        );
        body.append(tr);
      });
    }
    this.summaryBox.append(el('table', { class: 'compare-table summary' }, el('thead', {}, head), body));
  }
}
