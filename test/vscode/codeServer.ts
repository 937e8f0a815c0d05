/**
 * Starts a real VS Code (code-server 4.100.3 = VS Code 1.100.3 server, Node 20 extension host) for
 * the tests, isolated from $HOME: its config, data, cache, user-data and extensions folders all live
 * in a fresh temp folder. It runs in its own process group and is stopped by killing that group.
 *
 * code-server is installed outside node_modules by `install-code-server.sh` (see there for why);
 * `codeServerEntry()` runs that script the first time.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..');

/** Path of code-server's `out/node/entry.js`, installing code-server first if needed. */
export function codeServerEntry(): string {
  const script = path.join(__dirname, 'install-code-server.sh');
  const out = execFileSync('bash', [script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const dir = out.trim().split('\n').at(-1)!;
  const entry = path.join(dir, 'node_modules', 'code-server', 'out', 'node', 'entry.js');
  if (!fs.existsSync(entry)) throw new Error(`code-server entry missing: ${entry}`);
  return entry;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export interface CodeServerOptions {
  /** Folder opened as the workspace. */
  workspace: string;
  /** Merged over the default user settings. */
  settings?: Record<string, unknown>;
  /** Extra environment for code-server and so for its extension host. */
  env?: Record<string, string>;
  /**
   * Extensions to install into the isolated extensions folder before starting: `.vsix` files
   * (`--install-extension`) or unpacked extension folders (linked in, e.g. the repository root).
   */
  install?: string[];
}

export interface CodeServer {
  port: number;
  /** http://127.0.0.1:PORT */
  origin: string;
  workspace: string;
  /** Temp folder holding every folder code-server writes to. */
  home: string;
  userDataDir: string;
  extensionsDir: string;
  /** Everything code-server printed so far. */
  output(): string;
  /** URL of the workbench on the workspace, with an optional `payload` (see `workbenchUrl`). */
  url(payload?: [string, string][]): string;
  /** A `vscode-remote://` URI for a path on this machine, as the workbench's payload wants it. */
  remoteUri(p: string): string;
  /** Kills code-server's whole process group; removes its temp folder unless `keep`. */
  stop(keep?: boolean): Promise<void>;
}

export const DEFAULT_SETTINGS: Record<string, unknown> = {
  'workbench.startupEditor': 'none',
  'telemetry.telemetryLevel': 'off',
  'workbench.tips.enabled': false,
  'workbench.enableExperiments': false,
  'workbench.welcomePage.walkthroughs.openOnInstall': false,
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'extensions.ignoreRecommendations': true,
  'update.mode': 'none',
  'security.workspace.trust.enabled': false,
  'git.enabled': false,
  'chat.commandCenter.enabled': false,
  'window.commandCenter': false,
};

const live = new Set<ChildProcess>();
/** Signals code-server's whole process group (server, extension host, pty host, watchers). */
function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // the group is gone
  }
}
// Last resort if the test process exits without calling stop(): never leave a server behind.
process.on('exit', () => {
  for (const c of live) killGroup(c, 'SIGKILL');
});

export async function startCodeServer(opts: CodeServerOptions): Promise<CodeServer> {
  const entry = codeServerEntry();
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-code-server-'));
  const dirs = {
    XDG_CONFIG_HOME: path.join(home, 'config'),
    XDG_DATA_HOME: path.join(home, 'data'),
    XDG_CACHE_HOME: path.join(home, 'cache'),
  };
  const userDataDir = path.join(home, 'user-data');
  const extensionsDir = path.join(home, 'extensions');
  for (const d of [...Object.values(dirs), userDataDir, extensionsDir, path.join(userDataDir, 'User')]) {
    fs.mkdirSync(d, { recursive: true });
  }
  fs.writeFileSync(
    path.join(userDataDir, 'User', 'settings.json'),
    JSON.stringify({ ...DEFAULT_SETTINGS, ...opts.settings }, null, 2),
  );
  const env: NodeJS.ProcessEnv = { ...process.env, ...dirs, ...opts.env };
  // The extension host must not inherit test-runner hooks or a parent VS Code's settings.
  delete env.NODE_OPTIONS;
  delete env.VSCODE_IPC_HOOK_CLI;
  delete env.ELECTRON_RUN_AS_NODE;

  const base = ['--config', '/dev/null', '--user-data-dir', userDataDir, '--extensions-dir', extensionsDir];
  for (const ext of opts.install ?? []) {
    if (fs.statSync(ext).isDirectory()) {
      // An unpacked extension folder: VS Code picks up folders in the extensions folder on its first
      // start (and records them in extensions.json), as if installed from a .vsix.
      const pkg = JSON.parse(fs.readFileSync(path.join(ext, 'package.json'), 'utf8'));
      fs.symlinkSync(
        path.resolve(ext),
        path.join(extensionsDir, `${pkg.publisher}.${pkg.name}-${pkg.version}`),
      );
    } else {
      execFileSync(process.execPath, [entry, ...base, '--install-extension', ext], {
        env,
        stdio: 'pipe',
        timeout: 120_000,
      });
    }
  }

  let out = '';
  let child: ChildProcess | undefined;
  let port = 0;
  for (let attempt = 0; attempt < 3 && !child; attempt++) {
    port = await freePort();
    const c = spawn(
      process.execPath,
      [
        entry,
        ...base,
        '--bind-addr',
        `127.0.0.1:${port}`,
        '--auth',
        'none',
        '--disable-telemetry',
        '--disable-update-check',
        '--disable-workspace-trust',
        '--disable-getting-started-override',
        '--ignore-last-opened',
        opts.workspace,
      ],
      { env, cwd: home, detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    live.add(c);
    c.stdout!.on('data', (d) => (out += d));
    c.stderr!.on('data', (d) => (out += d));
    if (await waitHealthy(port, c, 30_000)) child = c;
    else {
      killGroup(c, 'SIGKILL');
      live.delete(c);
      if (!/EADDRINUSE/.test(out)) throw new Error(`code-server did not become healthy:\n${out}`);
    }
  }
  if (!child) throw new Error(`code-server did not start:\n${out}`);
  const started = child;
  const origin = `http://127.0.0.1:${port}`;
  const remoteUri = (p: string) => `vscode-remote://127.0.0.1:${port}${path.resolve(p)}`;
  return {
    port,
    origin,
    workspace: opts.workspace,
    home,
    userDataDir,
    extensionsDir,
    output: () => out,
    remoteUri,
    url(payload) {
      let u = `${origin}/?folder=${encodeURIComponent(path.resolve(opts.workspace))}`;
      if (payload?.length) u += `&payload=${encodeURIComponent(JSON.stringify(payload))}`;
      return u;
    },
    async stop(keep = false) {
      await stopGroup(started);
      if (!keep) fs.rmSync(home, { recursive: true, force: true, maxRetries: 3 });
    },
  };
}

async function stopGroup(child: ChildProcess): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    killGroup(child, 'SIGTERM');
    const timer = new Promise<void>((r) => setTimeout(r, 5000).unref());
    await Promise.race([exited, timer]);
  }
  // Whatever is left of the group (the leader may be gone while its extension host is not).
  killGroup(child, 'SIGKILL');
  live.delete(child);
}

async function waitHealthy(port: number, child: ChildProcess, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) return false;
    try {
      const r = await fetch(`http://127.0.0.1:${port}/healthz`);
      if (r.ok) return true;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}
