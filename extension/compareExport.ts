/**
 * "Export Metrics as CSV": the chosen runs' metrics.jsonl rows as one CSV table (columns run, step,
 * epoch, time, then each metric), read from the files rather than from a chart, so the export is
 * complete even for rows a chart never received.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { readMetricsFile } from '../trainer/run/metrics';
import { RUN_FILES } from '../trainer/run/runfolder';
import { metricsCsv } from '../webview/charts/compare';

export const EXPORT_METRICS_COMMAND = 'contrastiveLab.exportMetrics';

export interface CsvRunRef {
  name: string;
  dir: string;
}

/** The CSV text for `runs` (names label the rows; duplicates get their folder name appended). */
export function metricsCsvOfRuns(runs: readonly CsvRunRef[]): string {
  const seen = new Map<string, number>();
  for (const r of runs) seen.set(r.name, (seen.get(r.name) ?? 0) + 1);
  return metricsCsv(
    runs.map((r) => ({
      name: (seen.get(r.name) ?? 0) > 1 ? `${r.name} (${path.basename(r.dir)})` : r.name,
      rows: readMetricsFile(path.join(r.dir, RUN_FILES.metrics)).rows,
    })),
  );
}

/**
 * Asks where to save (unless `target` is given) and writes the CSV. Resolves with the file written,
 * or undefined when the save dialog was dismissed.
 */
export async function exportMetricsCsv(
  runs: readonly CsvRunRef[],
  target?: vscode.Uri,
): Promise<vscode.Uri | undefined> {
  if (!runs.length) return undefined;
  let uri = target;
  if (!uri) {
    const base = vscode.workspace.workspaceFolders?.[0]?.uri;
    const name = `${runs.length === 1 ? runs[0].name : 'compare'}-metrics.csv`.replace(/[\\/:*?"<>|]+/g, '_');
    uri = await vscode.window.showSaveDialog({
      title: `Export metrics of ${runs.length === 1 ? runs[0].name : `${runs.length} runs`} as CSV`,
      saveLabel: 'Export',
      filters: { CSV: ['csv'] },
      defaultUri: base ? vscode.Uri.joinPath(base, name) : undefined,
    });
  }
  if (!uri) return undefined;
  try {
    const csv = metricsCsvOfRuns(runs);
    if (uri.scheme === 'file') fs.writeFileSync(uri.fsPath, csv);
    else await vscode.workspace.fs.writeFile(uri, Buffer.from(csv, 'utf8'));
  } catch (e) {
    void vscode.window.showErrorMessage(`Could not write ${uri.fsPath}: ${(e as Error).message}`);
    return undefined;
  }
  if (!target) {
    void vscode.window
      .showInformationMessage(`Exported ${runs.length} run(s) to ${path.basename(uri.fsPath)}`, 'Open')
      .then((pick) => pick && vscode.window.showTextDocument(uri));
  }
  return uri;
}
