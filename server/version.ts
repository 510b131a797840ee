/** The project root and version, found by walking up from this file (works from sources and from dist/). */
import fs from 'node:fs';
import path from 'node:path';

function findRoot(): string {
  let dir = __dirname;
  for (;;) {
    const file = path.join(dir, 'package.json');
    if (fs.existsSync(file) && (JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: string }).name === 'arogya') return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('cannot find the arogya package root');
    dir = parent;
  }
}

export const PROJECT_ROOT = findRoot();
export const VERSION: string = (JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
