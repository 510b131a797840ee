#!/usr/bin/env node
// `npx arogya <command>`: runs the compiled server (npm run build produces dist/).
const path = require('node:path');
const fs = require('node:fs');
const entry = path.join(__dirname, '..', 'dist', 'server', 'main.js');
if (!fs.existsSync(entry)) {
  console.error('arogya: dist/ is missing; run `npm run build` first');
  process.exit(1);
}
require(entry)
  .main(process.argv.slice(2))
  .catch((e) => {
    console.error(e?.stack ? e.stack : e);
    process.exit(1);
  });
