/**
 * Shared helpers for the tests that run inside the extension host (bundled into each test file).
 */
import * as vscode from 'vscode';

export const EXTENSION_ID = 'contrastive-lab.contrastive-lab';

export interface Fixture {
  /** The workspace folder (a temp folder). */
  workspace: string;
  /** `<workspace>/runs` */
  runsDir: string;
  /** Run name (tiny-a, tiny-b) -> absolute run folder, each a completed run by the real trainer. */
  runs: Record<string, string>;
}

/** What runSuite.ts put in the workspace (passed through the environment). */
export function fixture(): Fixture {
  const raw = process.env.CL_VSCODE_FIXTURE;
  if (!raw) throw new Error('CL_VSCODE_FIXTURE is not set: run this suite through `npm run test:vscode`');
  return JSON.parse(raw) as Fixture;
}

export function extension(): vscode.Extension<unknown> {
  const ext = vscode.extensions.getExtension(EXTENSION_ID);
  if (!ext) throw new Error(`extension ${EXTENSION_ID} is not loaded`);
  return ext;
}

/** Polls `pred` until it returns a truthy value (returned) or `timeoutMs` passes (throws `what`). */
export async function waitFor<T>(what: string, pred: () => T | Promise<T>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await pred();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
