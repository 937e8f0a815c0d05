/** Status bar: the active run's epoch, images/s and ETA; a click opens its charts. */
import * as vscode from 'vscode';
import { formatDuration } from '../trainer/duration';
import type { RunProgressParams } from '../trainer/protocol';

export class RunStatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem(
    'contrastiveLab.activeRun',
    vscode.StatusBarAlignment.Left,
    50,
  );
  private active: string | null = null;

  constructor(private readonly nameOf: (runId: string) => string) {
    this.item.name = 'Contrastive Lab: active run';
  }

  update(p: RunProgressParams): void {
    this.active = p.runId;
    const epoch = Math.min(p.epochs, Math.floor(p.epoch) + 1);
    this.item.text = `$(sync~spin) ${this.nameOf(p.runId)}  epoch ${epoch}/${p.epochs} · ${p.imagesPerSec.toFixed(0)} img/s · ETA ${formatDuration(p.etaSeconds)}`;
    this.item.tooltip = `Contrastive Lab: step ${p.step}/${p.totalSteps}, loss ${p.loss.toFixed(4)}, lr ${p.lr.toPrecision(3)}. Click to open the charts.`;
    this.item.command = { command: 'contrastiveLab.openCharts', title: 'Open Charts', arguments: [p.runId] };
    this.item.show();
  }

  ended(runId: string): void {
    if (runId === this.active) {
      this.item.hide();
      this.active = null;
    }
  }

  dispose(): void {
    this.item.dispose();
  }
}
