/**
 * The fixture workspace as the extension host sees it through the VS Code API: the folder is open
 * and its runs/ holds the run folders the real trainer wrote.
 */
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { fixture } from './helpers';

describe('fixture workspace', () => {
  it('is the open workspace folder', () => {
    const folders = vscode.workspace.workspaceFolders ?? [];
    assert.equal(folders.length, 1);
    assert.equal(folders[0].uri.fsPath, fixture().workspace);
  });

  it('holds completed run folders written by the trainer', async () => {
    const { runs } = fixture();
    assert.deepEqual(Object.keys(runs).sort(), ['tiny-a', 'tiny-b']);
    for (const [name, dir] of Object.entries(runs)) {
      const folder = vscode.Uri.file(dir);
      const entries = new Map(await vscode.workspace.fs.readDirectory(folder));
      for (const f of ['config.json', 'run.json', 'metrics.jsonl', 'trainer.log']) {
        assert.equal(entries.get(f), vscode.FileType.File, `${name}/${f}`);
      }
      assert.equal(entries.get('checkpoints'), vscode.FileType.Directory, `${name}/checkpoints`);
      const run = JSON.parse(
        new TextDecoder().decode(await vscode.workspace.fs.readFile(vscode.Uri.joinPath(folder, 'run.json'))),
      );
      assert.equal(run.name, name);
      assert.equal(run.status, 'completed');
      const ckpts = await vscode.workspace.fs.readDirectory(vscode.Uri.joinPath(folder, 'checkpoints'));
      assert.ok(
        ckpts.some(([f]) => f.endsWith('.safetensors')),
        `${name} has a checkpoint`,
      );
    }
  });

  it('finds the runs with workspace.findFiles (the search service works)', async () => {
    const found = await vscode.workspace.findFiles('runs/*/run.json');
    assert.equal(found.length, 2, found.map((u) => u.fsPath).join(', '));
  });
});
