/**
 * The Runs view: every run folder, grouped by status or by method, with the last loss and kNN
 * top-1 in the description, the key config in the tooltip, and checkpoints as children.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { evalLong, evalShort } from './evals';
import type { CheckpointEntry, RunEntry, RunStore } from './runStore';

export type Grouping = 'status' | 'method';

export type RunsNode =
  | { kind: 'group'; label: string; runs: RunEntry[] }
  | { kind: 'run'; run: RunEntry }
  | { kind: 'checkpoint'; run: RunEntry; checkpoint: CheckpointEntry };

const STATUS_ORDER = ['running', 'stopping', 'queued', 'failed', 'stopped', 'completed'];

const STATUS_ICON: Record<string, [string, string | undefined]> = {
  running: ['sync~spin', 'charts.green'],
  stopping: ['loading~spin', 'charts.yellow'],
  queued: ['clock', undefined],
  completed: ['pass-filled', 'charts.green'],
  stopped: ['debug-pause', 'charts.yellow'],
  failed: ['error', 'charts.red'],
};

export function runDescription(r: RunEntry): string {
  const parts: string[] = [];
  if (r.lastLoss !== undefined) parts.push(`loss ${r.lastLoss.toFixed(3)}`);
  if (r.lastKnn !== undefined) parts.push(`kNN ${(r.lastKnn * 100).toFixed(1)}%`);
  if (r.status === 'running' && r.info.totalSteps)
    parts.push(`${Math.round((100 * (r.lastStep ?? 0)) / r.info.totalSteps)}%`);
  return parts.join(' · ');
}

export class RunsTree implements vscode.TreeDataProvider<RunsNode> {
  private readonly emitter = new vscode.EventEmitter<RunsNode | undefined>();
  readonly onDidChangeTreeData = this.emitter.event;
  grouping: Grouping = 'status';

  /**
   * One node object per run, kept across renders: VS Code refreshes a single row only when the
   * change event carries the very object getChildren returned for it.
   */
  private readonly runNodes = new Map<string, RunsNode & { kind: 'run' }>();

  constructor(private readonly store: RunStore) {
    store.onDidChange((run) => this.onStoreChange(run));
  }

  /** performance.now() when the activate() that made this tree returned (benchmark). */
  activatedAt: number | undefined;

  /**
   * A run that changed but stays in its group re-renders only its row (and its children), so a
   * live run in a 1,000-run tree costs one getTreeItem per update; a run that moved between
   * groups, appeared or vanished re-renders the tree (VS Code keeps expansion by item id).
   */
  private onStoreChange(run: RunEntry | undefined): void {
    const node = run && this.runNodes.get(run.id);
    if (!run || !node || this.groupKey(node.run) !== this.groupKey(run)) {
      this.emitter.fire(undefined);
      return;
    }
    node.run = run;
    this.emitter.fire(node);
  }

  private groupKey(r: RunEntry): string {
    return this.grouping === 'status' ? r.status : r.info.method;
  }

  setGrouping(g: Grouping): void {
    this.grouping = g;
    void vscode.commands.executeCommand('setContext', 'contrastiveLab.runsGrouping', g);
    this.emitter.fire(undefined);
  }

  /**
   * The first time the view asked for the top level and got runs (performance.now() when it
   * asked and when the answer was ready): the benchmark times activation to the tree listed.
   */
  firstListed: { askedAt: number; at: number; runs: number } | undefined;

  private answeredTop!: () => void;
  /** Resolves once the view has been given the top level for the first time. */
  readonly answered = new Promise<void>((resolve) => {
    this.answeredTop = resolve;
  });

  getChildren(node?: RunsNode): RunsNode[] | Promise<RunsNode[]> {
    if (node) return this.childrenOf(node);
    const askedAt = performance.now();
    // Asked before the first scan listed the folder: answer when it has (not "no runs yet").
    if (!this.store.isListed) return this.store.listed.then(() => this.listTop(askedAt));
    return this.listTop(askedAt);
  }

  private listTop(askedAt: number): RunsNode[] {
    const groups = this.topLevel();
    if (!this.firstListed && groups.length)
      this.firstListed = { askedAt, at: performance.now(), runs: this.store.all().length };
    this.answeredTop();
    return groups;
  }

  private topLevel(): RunsNode[] {
    const runs = this.store.all();
    if (!runs.length) return [];
    const groups = new Map<string, RunEntry[]>();
    for (const r of runs) {
      const k = this.groupKey(r);
      const g = groups.get(k);
      if (g) g.push(r);
      else groups.set(k, [r]);
    }
    // Nodes of runs that are gone are dropped here, so the map never outgrows the folder.
    const live = new Set(runs.map((r) => r.id));
    for (const id of this.runNodes.keys()) if (!live.has(id)) this.runNodes.delete(id);
    const labels = [...groups.keys()].sort((a, b) =>
      this.grouping === 'status' ? STATUS_ORDER.indexOf(a) - STATUS_ORDER.indexOf(b) : a.localeCompare(b),
    );
    return labels.map((label) => ({ kind: 'group', label, runs: groups.get(label)! }));
  }

  /**
   * The first time the view asked for a group's runs, and when their items were made (the turn
   * after: VS Code asks for each child's TreeItem right after getChildren): benchmark only.
   */
  firstGroupListed: { askedAt: number; itemsAt: number; runs: number } | undefined;

  private childrenOf(node: RunsNode): RunsNode[] {
    if (node.kind === 'group') {
      if (!this.firstGroupListed) {
        const entry = { askedAt: performance.now(), itemsAt: Number.NaN, runs: node.runs.length };
        this.firstGroupListed = entry;
        setImmediate(() => {
          entry.itemsAt = performance.now();
        });
      }
      return node.runs.map((run) => {
        let n = this.runNodes.get(run.id);
        if (n) n.run = run;
        else {
          n = { kind: 'run', run };
          this.runNodes.set(run.id, n);
        }
        return n;
      });
    }
    if (node.kind === 'run') {
      return [...node.run.checkpoints]
        .reverse()
        .map((checkpoint) => ({ kind: 'checkpoint', run: node.run, checkpoint }));
    }
    return [];
  }

  getTreeItem(node: RunsNode): vscode.TreeItem {
    if (node.kind === 'group') {
      const item = new vscode.TreeItem(
        `${node.label} (${node.runs.length})`,
        vscode.TreeItemCollapsibleState.Expanded,
      );
      item.id = `group:${this.grouping}:${node.label}`;
      item.contextValue = 'group';
      return item;
    }
    if (node.kind === 'run') {
      const r = node.run;
      // Until the scan's second pass has counted its checkpoints a run shows the chevron most runs
      // have, so rows do not shift when the counts arrive (expanding lists them either way).
      const item = new vscode.TreeItem(
        r.info.name || r.id,
        r.checkpointCount || !r.summarized
          ? vscode.TreeItemCollapsibleState.Collapsed
          : vscode.TreeItemCollapsibleState.None,
      );
      item.id = `run:${r.id}`;
      item.description = runDescription(r);
      const [icon, color] = STATUS_ICON[r.status] ?? ['circle-outline', undefined];
      item.iconPath = new vscode.ThemeIcon(icon, color ? new vscode.ThemeColor(color) : undefined);
      item.contextValue = `run:${r.status}`;
      item.resourceUri = vscode.Uri.file(r.dir);
      item.command = { command: 'contrastiveLab.openCharts', title: 'Open Charts', arguments: [node] };
      return item;
    }
    const c = node.checkpoint;
    const item = new vscode.TreeItem(`step ${c.step}`, vscode.TreeItemCollapsibleState.None);
    item.id = `ckpt:${node.run.id}:${c.step}`;
    const parts: string[] = [];
    if (c.epoch !== undefined)
      parts.push(`epoch ${Number.isInteger(c.epoch) ? c.epoch : c.epoch.toFixed(2)}`);
    // Evaluations run later supersede the kNN measured at save time.
    if (c.evals?.length) parts.push(...c.evals.map(evalShort));
    else if (c.knnTop1 !== undefined) parts.push(`kNN ${(c.knnTop1 * 100).toFixed(1)}%`);
    parts.push(`${(c.bytes / 1e6).toFixed(1)} MB`);
    item.description = parts.join(' · ');
    item.iconPath = new vscode.ThemeIcon(
      c.problem ? 'warning' : 'save',
      c.problem ? new vscode.ThemeColor('charts.red') : undefined,
    );
    item.contextValue = 'checkpoint';
    item.resourceUri = vscode.Uri.file(c.file);
    const tip = new vscode.MarkdownString();
    tip.appendMarkdown(`**${path.basename(c.file)}**  \nstep ${c.step}`);
    if (c.epoch !== undefined) tip.appendMarkdown(` · epoch ${c.epoch}`);
    if (c.knnTop1 !== undefined)
      tip.appendMarkdown(`  \nkNN top-1 at save time: ${(c.knnTop1 * 100).toFixed(2)}%`);
    tip.appendMarkdown(`  \n${(c.bytes / 1e6).toFixed(2)} MB`);
    if (c.createdAt) tip.appendMarkdown(` · saved ${c.createdAt.replace('T', ' ').slice(0, 19)}`);
    for (const e of c.evals ?? [])
      tip.appendMarkdown(`  \n${evalLong(e)} (evaluated ${e.time.replace('T', ' ').slice(0, 16)})`);
    if (c.problem) tip.appendMarkdown(`\n\n**Unreadable:** ${c.problem}`);
    item.tooltip = tip;
    item.command = { command: 'vscode.open', title: 'Open Checkpoint', arguments: [vscode.Uri.file(c.file)] };
    return item;
  }

  /**
   * Tooltips are built on hover: the run tooltip needs config.json, which listing a 1,000-run
   * folder does not read.
   */
  resolveTreeItem(item: vscode.TreeItem, node: RunsNode): vscode.TreeItem {
    if (node.kind === 'run' && item.tooltip === undefined) item.tooltip = runTooltip(node.run);
    return item;
  }

  getParent(): undefined {
    return undefined;
  }
}

function runTooltip(r: RunEntry): vscode.MarkdownString {
  const c = r.config;
  const md = new vscode.MarkdownString();
  md.appendMarkdown(
    `**${r.info.name || r.id}** — ${r.status}${r.stale ? ' (trainer process gone)' : ''}\n\n`,
  );
  if (c) {
    md.appendMarkdown(
      `${c.method} · ${c.dataset.kind} · ${c.encoder.arch} (width ${c.encoder.width})  \n` +
        `batch ${c.training.batchSize} · ${c.training.epochs} epochs · ${c.optimizer.kind} lr ${c.optimizer.lr} · τ ${c.params.temperature ?? '-'}  \n` +
        `seed ${c.seed}`,
    );
  }
  if (r.info.backend) md.appendMarkdown(`  \nbackend ${r.info.backend}`);
  if (r.info.tags?.length) md.appendMarkdown(`  \ntags: ${r.info.tags.join(', ')}`);
  if (r.info.notes) md.appendMarkdown(`\n\n${r.info.notes}`);
  if (r.info.error) md.appendMarkdown(`\n\n**Error:** ${r.info.error.split('\n')[0]}`);
  return md;
}
