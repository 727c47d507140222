// Rewrites the event and failure-code tables of docs/api.md from the declarations in src/protocol.
//   node scripts/gen-event-docs.ts          write the tables
//   node scripts/gen-event-docs.ts --check  exit 1 when docs/api.md is out of date
import fs from 'node:fs';
import path from 'node:path';
import { withCurrentTables } from './event-docs.ts';

const file = path.join(import.meta.dirname, '..', 'docs', 'api.md');
const doc = fs.readFileSync(file, 'utf8');
const next = withCurrentTables(doc);
if (process.argv.includes('--check')) {
  if (next !== doc) {
    console.error('docs/api.md: the event tables are out of date; run `npm run docs:events`');
    process.exit(1);
  }
} else if (next !== doc) {
  fs.writeFileSync(file, next);
  console.log('docs/api.md: event tables updated');
}
