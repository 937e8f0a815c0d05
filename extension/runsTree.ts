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

  constructor(private readonly store: RunStore) {
    // Any change re-renders from the store; VS Code keeps expansion state by item id.
    store.onDidChange(() => this.emitter.fire(undefined));
  }

  setGrouping(g: Grouping): void {
    this.grouping = g;
    void vscode.commands.executeCommand('setContext', 'contrastiveLab.runsGrouping', g);
    this.emitter.fire(undefined);
  }

  getChildren(node?: RunsNode): RunsNode[] {
    if (!node) {
      const runs = this.store.all();
      if (!runs.length) return [];
      const key = (r: RunEntry) => (this.grouping === 'status' ? r.status : r.info.method);
      const groups = new Map<string, RunEntry[]>();
      for (const r of runs) groups.set(key(r), [...(groups.get(key(r)) ?? []), r]);
      const labels = [...groups.keys()].sort((a, b) =>
        this.grouping === 'status' ? STATUS_ORDER.indexOf(a) - STATUS_ORDER.indexOf(b) : a.localeCompare(b),
      );
      return labels.map((label) => ({ kind: 'group', label, runs: groups.get(label)! }));
    }
    if (node.kind === 'group') return node.runs.map((run) => ({ kind: 'run', run }));
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
      const item = new vscode.TreeItem(
        r.info.name || r.id,
        r.checkpoints.length
          ? vscode.TreeItemCollapsibleState.Collapsed
          : vscode.TreeItemCollapsibleState.None,
      );
      item.id = `run:${r.id}`;
      item.description = runDescription(r);
      const [icon, color] = STATUS_ICON[r.status] ?? ['circle-outline', undefined];
      item.iconPath = new vscode.ThemeIcon(icon, color ? new vscode.ThemeColor(color) : undefined);
      item.contextValue = `run:${r.status}`;
      item.tooltip = runTooltip(r);
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
