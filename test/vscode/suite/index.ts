/**
 * Entry point the VS Code extension host calls (`extensionTestsPath`, the @vscode/test-electron
 * contract): runs every `*.test.js` next to this file with mocha, inside the real extension host,
 * with the real `vscode` module. Resolves when all pass, rejects otherwise; the workbench turns that
 * into `codeAutomationExit(0 | 1)`.
 *
 * Built by runSuite.ts with esbuild into dist/test/vscode/run-<pid>/ (`vscode`, `mocha` external;
 * mocha is required from the repository's node_modules at run time).
 *
 * Environment (set by runSuite.ts on code-server, inherited by the extension host):
 *   CL_VSCODE_REPORT  file that receives a copy of the reporter output
 *   CL_VSCODE_GREP    only run tests whose full title matches this regular expression
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { format } from 'node:util';
import Mocha from 'mocha';

export function run(): Promise<void> {
  const report = process.env.CL_VSCODE_REPORT;
  if (report) {
    const log = console.log;
    Mocha.reporters.Base.consoleLog = (...args: unknown[]) => {
      log(...args);
      fs.appendFileSync(report, `${format(...args)}\n`);
    };
  }
  const mocha = new Mocha({ ui: 'bdd', timeout: 60_000, reporter: 'spec' });
  // The report goes to a file and the workbench log: no escape codes. (`color: false` in the options
  // is ignored by mocha, and its ✔/✖ symbols come colored from log-symbols when CI=true.)
  const Base = Mocha.reporters.Base;
  Base.useColors = false;
  Base.symbols.ok = '✔';
  Base.symbols.err = '✖';
  if (process.env.CL_VSCODE_GREP) mocha.grep(new RegExp(process.env.CL_VSCODE_GREP));
  for (const f of fs.readdirSync(__dirname).sort()) {
    if (f.endsWith('.test.js')) mocha.addFile(path.join(__dirname, f));
  }
  return new Promise((resolve, reject) => {
    try {
      mocha.run((failures) => (failures ? reject(new Error(`${failures} test(s) failed`)) : resolve()));
    } catch (e) {
      reject(e);
    }
  });
}
