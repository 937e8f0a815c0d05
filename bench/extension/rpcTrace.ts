/**
 * Where the workbench's round trip to the Runs view spends its time, read from VS Code's own log of
 * the extension host protocol (the `logExtensionHostCommunication` payload flag): the workbench
 * logs each message it receives from or sends to the extension host with console.log. An init
 * script stamps each console.log in the page with Date.now() (the same clock as the extension
 * host's performance.timeOrigin on this machine), so the marks below are renderer times.
 *
 * Opt-in (`CL_BENCH_RPC_TRACE=1`): the logging itself costs the renderer time.
 */
import type { Page } from 'playwright-core';

export interface RpcMarks {
  /** The workbench received the Runs view's registration. */
  registeredAt?: number;
  /** The workbench sent its first request for the Runs view's top level. */
  askedAt?: number;
}

/** The payload entry that turns the workbench's protocol log on. */
export const RPC_TRACE_PAYLOAD: [string, string] = ['logExtensionHostCommunication', 'true'];

const STAMP = /@(\d+)$/;

/** Stamps the page's console.log calls and collects the marks; call before the page loads. */
export async function traceRunsViewRpc(page: Page, viewId: string): Promise<RpcMarks> {
  const marks: RpcMarks = {};
  page.on('console', (m) => {
    const text = m.text();
    const at = Number(text.match(STAMP)?.[1]);
    if (!Number.isFinite(at) || !text.includes(viewId)) return;
    if (marks.registeredAt === undefined && text.includes('$registerTreeViewDataProvider'))
      marks.registeredAt = at;
    // The top level: the parent handle is undefined.
    if (marks.askedAt === undefined && text.includes('$getChildren(') && text.includes(`${viewId} undefined`))
      marks.askedAt = at;
  });
  await page.addInitScript(() => {
    const log = console.log;
    console.log = (...args: unknown[]) => log(...args, `@${Date.now()}`);
  });
  return marks;
}
