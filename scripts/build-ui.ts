// Builds the dashboard bundle (ui/ → dist/ui/<hash>/) now instead of at the server's first start:
//   npm run build:ui           build when missing or stale; prints where and how big
// The server does the same at start (src/server/ui-build.ts); a Docker image runs this at build time.

import fs from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { prepareUiBundle } from '../src/server/ui-build.ts';

const checkout = path.join(import.meta.dirname, '..');
const info = await prepareUiBundle({
  sourceDir: path.join(checkout, 'ui'),
  lockFile: path.join(checkout, 'package-lock.json'),
  outRoots: [path.join(checkout, 'dist', 'ui')],
});
let raw = 0;
let gz = 0;
for (const f of info.files) {
  const body = await fs.readFile(path.join(info.dir, f));
  raw += body.length;
  gz += gzipSync(body, { level: 9 }).length;
}
console.log(
  `dashboard ${info.built ? 'built' : 'up to date'}: ${path.relative(checkout, info.dir)} ` +
    `(${info.files.length} files, ${(raw / 1024).toFixed(1)} KiB, ${(gz / 1024).toFixed(1)} KiB gzip)`,
);
