/**
 * The extension as VS Code sees it: loaded, activated by the workspace's runs, every contributed
 * command registered, its views openable.
 */
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { EXTENSION_ID, extension, waitFor } from './helpers';

interface Contributes {
  commands?: { command: string; title: string }[];
  views?: Record<string, { id: string; name: string }[]>;
  viewsContainers?: { activitybar?: { id: string; title: string }[] };
}

describe('extension', () => {
  it(`${EXTENSION_ID} is present`, () => {
    const ext = extension();
    assert.equal(ext.id, EXTENSION_ID);
    assert.equal(ext.packageJSON.displayName, 'Contrastive Lab');
  });

  it('activates by itself on a workspace holding runs (workspaceContains)', async () => {
    // No test code has touched the extension yet: only its activation events can have started it.
    const ext = extension();
    await waitFor('the extension to activate', () => ext.isActive, 30_000);
  });

  it('activate() succeeds', async () => {
    const ext = extension();
    await ext.activate();
    assert.ok(ext.isActive);
  });

  it('registers every command declared in contributes.commands', async () => {
    const declared = ((extension().packageJSON.contributes as Contributes).commands ?? []).map(
      (c) => c.command,
    );
    assert.ok(declared.length > 0, 'package.json declares commands');
    const registered = new Set(await vscode.commands.getCommands(true));
    const missing = declared.filter((c) => !registered.has(c));
    assert.deepEqual(missing, [], `declared in package.json but not registered: ${missing.join(', ')}`);
  });

  it('opens its activity bar container and each contributed view', async () => {
    const contributes = extension().packageJSON.contributes as Contributes;
    const containers = contributes.viewsContainers?.activitybar ?? [];
    assert.ok(containers.length > 0, 'an activity bar container is declared');
    for (const c of containers) {
      // VS Code generates these commands for every contributed container and view.
      await vscode.commands.executeCommand(`workbench.view.extension.${c.id}`);
      for (const v of contributes.views?.[c.id] ?? []) {
        await vscode.commands.executeCommand(`${v.id}.focus`);
      }
    }
  });

  // More extension-host tests (trees, config editor, starting a run) go in their own files next to
  // this one: test/vscode/suite/<area>.test.ts. See test/vscode/README.md.
});
