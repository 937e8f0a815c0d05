#!/usr/bin/env node
// Entry point of the `contrastive-lab` command: runs the bundled trainer CLI.
const path = require('node:path');
const fs = require('node:fs');
const cli = path.join(__dirname, '..', 'dist', 'trainer.js');
if (!fs.existsSync(cli)) {
  process.stderr.write(`error: ${cli} is missing; run "npm run build" first.\n`);
  process.exit(1);
}
require(cli)
  .main(process.argv.slice(2))
  .then((code) => {
    process.exitCode = code;
  });
