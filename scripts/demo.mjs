#!/usr/bin/env node
// The README's main command (`npm run demo`): builds and packages the extension, installs it into
// a VS Code (the user's `code` when present, else the bundled code-server on 127.0.0.1), opens a
// demo workspace, and trains a real SimCLR run there from the command line with a live progress
// bar. The editor attaches to the live run through its socket: the run shows in the Runs view and
// its charts update while it trains.
//
//   npm run demo                      # editor + training
//   npm run demo -- --no-editor       # training only (what CI-like machines can do)
//   npm run demo -- --epochs 5 --port 8080
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const { values } = parseArgs({
  options: {
    'no-editor': { type: 'boolean' },
    epochs: { type: 'string', default: '3' },
    port: { type: 'string', default: '8080' },
    workspace: { type: 'string', default: path.join(root, 'demo-workspace') },
  },
});
const ws = path.resolve(values.workspace);
const say = (m) => process.stdout.write(`\x1b[1mdemo:\x1b[0m ${m}\n`);

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.error?.message})`);
}

function onPath(cmd) {
  return (process.env.PATH ?? '').split(path.delimiter).some((d) => fs.existsSync(path.join(d, cmd)));
}

say('building and packaging the extension');
run('npm', ['run', '--silent', 'package']);
fs.mkdirSync(path.join(ws, 'runs'), { recursive: true });

let editor = null;
if (!values['no-editor']) {
  const vsix = path.join(root, 'contrastive-lab.vsix');
  if (onPath('code')) {
    say('installing into your VS Code (`code`)');
    run('code', ['--install-extension', vsix, '--force']);
    run('code', [ws]);
  } else {
    say('no `code` on PATH: using the bundled code-server (first time: about a minute to install)');
    const dir = spawnSync('bash', [path.join(root, 'test/vscode/install-code-server.sh')], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    }).stdout.trim();
    const entry = path.join(dir, 'node_modules/code-server/out/node/entry.js');
    if (!fs.existsSync(entry)) throw new Error('code-server could not be installed (see above)');
    const home = path.join(os.tmpdir(), 'contrastive-lab-demo-editor');
    const ext = path.join(home, 'extensions');
    const user = path.join(home, 'user-data');
    fs.mkdirSync(path.join(user, 'User'), { recursive: true });
    fs.writeFileSync(
      path.join(user, 'User', 'settings.json'),
      JSON.stringify({
        'workbench.startupEditor': 'none',
        'telemetry.telemetryLevel': 'off',
        'security.workspace.trust.enabled': false,
      }),
    );
    const common = ['--config', '/dev/null', '--user-data-dir', user, '--extensions-dir', ext];
    run(process.execPath, [entry, ...common, '--install-extension', vsix, '--force'], { stdio: 'ignore' });
    editor = spawn(
      process.execPath,
      [
        entry,
        ...common,
        '--bind-addr',
        `127.0.0.1:${values.port}`,
        '--auth',
        'none',
        '--disable-telemetry',
        '--disable-update-check',
        ws,
      ],
      {
        stdio: 'ignore',
        detached: true,
        env: { ...process.env, XDG_CONFIG_HOME: home, XDG_DATA_HOME: home },
      },
    );
    say(`VS Code (code-server) is at http://127.0.0.1:${values.port}/?folder=${encodeURIComponent(ws)}`);
  }
  say(
    'in the editor: click the Contrastive Lab icon in the activity bar. Runs shows the run below training live;',
  );
  say('click it for its charts. Methods > SimCLR v1 > "+" starts a run of your own from a config form.');
}

say(
  `training SimCLR v1 on the built-in dataset for ${values.epochs} epochs (Ctrl-C stops with a checkpoint)`,
);
const trainer = spawn(
  process.execPath,
  [
    path.join(root, 'dist/trainer.js'),
    'train',
    '--epochs',
    values.epochs,
    '--runs-dir',
    path.join(ws, 'runs'),
    '--name',
    'demo',
  ],
  { cwd: ws, stdio: 'inherit' },
);
process.on('SIGINT', () => trainer.kill('SIGINT'));
trainer.on('exit', (code) => {
  if (!editor) process.exit(code ?? 0);
  say(
    `training finished (exit ${code}). The editor keeps running at http://127.0.0.1:${values.port}; Ctrl-C to quit.`,
  );
  const quit = () => {
    try {
      process.kill(-editor.pid, 'SIGTERM');
    } catch {}
    process.exit(0);
  };
  process.removeAllListeners('SIGINT');
  process.on('SIGINT', quit);
  process.on('SIGTERM', quit);
});
