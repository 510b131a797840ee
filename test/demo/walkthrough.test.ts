/**
 * The README's walkthrough (section *Demo network*, code blocks marked ```sh walkthrough) runs as written, so it
 * cannot drift: every block is split into steps at blank lines; the steps run in order in ONE bash process (their
 * variables carry over) with real curl and jq against a real server (HMS workflows on), from a folder holding
 * `.arogya/admin-client.json` like a server's working directory. Only `http://localhost:8080` is replaced by the
 * test server's origin. Each step must exit 0 and print exactly its `# →` lines (`…` stands for one server-assigned
 * id or other value without spaces or slashes).
 */
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TEST_AUTH, type TestServer, startServer } from '../harness';

const README = path.resolve(__dirname, '..', '..', 'README.md');
const tools = ['bash', 'curl', 'jq'].every((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status === 0);

interface Step {
  /** 1-based line in README.md where the step starts. */
  line: number;
  script: string;
  expected: string[];
}

/** The walkthrough's steps, in README order. */
function walkthroughSteps(markdown: string): Step[] {
  const lines = markdown.split('\n');
  const steps: Step[] = [];
  let inBlock = false;
  let current: { line: number; lines: string[] } | undefined;
  const flush = () => {
    if (current?.lines.some((l) => l.trim() && !l.startsWith('#'))) {
      steps.push({
        line: current.line,
        script: current.lines.filter((l) => !l.startsWith('# → ')).join('\n'),
        expected: current.lines.filter((l) => l.startsWith('# → ')).map((l) => l.slice(4)),
      });
    }
    current = undefined;
  };
  lines.forEach((l, i) => {
    if (!inBlock) {
      if (/^```sh\s+walkthrough\s*$/.test(l)) inBlock = true;
      return;
    }
    if (l.startsWith('```')) {
      flush();
      inBlock = false;
    } else if (l.trim() === '') flush();
    else {
      current ??= { line: i + 1, lines: [] };
      current.lines.push(l);
    }
  });
  return steps;
}

const pattern = (expected: string): RegExp =>
  new RegExp(
    `^${expected
      .split('…')
      .map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
      .join('(?!null\\b)[A-Za-z0-9.\\-]{1,64}')}$`,
  );

const walkthrough = tools && TEST_AUTH === 'smart' ? test : test.skip;

let server: TestServer | undefined;
afterAll(async () => server?.close());

test('the README has a walkthrough with checked output', () => {
  const steps = walkthroughSteps(fs.readFileSync(README, 'utf8'));
  expect(steps.length).toBeGreaterThanOrEqual(9);
  expect(steps.filter((s) => s.expected.length).length).toBeGreaterThanOrEqual(8);
});

walkthrough(
  'every walkthrough command runs against a real server and prints what the README says',
  async () => {
    const secret = crypto.randomBytes(24).toString('base64url');
    server = await startServer({ workflows: true, adminClientId: 'arogya-admin', adminClientSecret: secret });
    const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'arogya-walkthrough-'));
    try {
      fs.mkdirSync(path.join(cwd, '.arogya'));
      fs.writeFileSync(path.join(cwd, '.arogya', 'admin-client.json'), JSON.stringify({ client_id: 'arogya-admin', client_secret: secret }), {
        mode: 0o600,
      });
      const steps = walkthroughSteps(fs.readFileSync(README, 'utf8'));
      // One shell: step i's stdout, stderr and exit code go to files; variables and functions carry over.
      const script = ['set -o pipefail']
        .concat(
          steps.map((s, i) => `{\n${s.script.replaceAll('http://localhost:8080', server!.origin)}\n} > out.${i} 2> err.${i}\necho $? > rc.${i}`),
        )
        .join('\n');
      // asynchronously: the server answers from this process
      const status = await new Promise<number | null>((resolve) => {
        const child = spawn('bash', ['-c', script], { cwd, stdio: 'ignore', env: { PATH: process.env.PATH, HOME: process.env.HOME } });
        const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
        child.on('exit', (code) => {
          clearTimeout(timer);
          resolve(code);
        });
      });
      expect(status).toBe(0);
      steps.forEach((s, i) => {
        const read = (f: string) => fs.readFileSync(path.join(cwd, `${f}.${i}`), 'utf8');
        const out = read('out').replace(/\n$/, '');
        const got = { line: s.line, rc: read('rc').trim(), stderr: read('err'), out: out === '' ? [] : out.split('\n') };
        expect(got).toEqual({ line: s.line, rc: '0', stderr: '', out: s.expected.map((e) => expect.stringMatching(pattern(e))) });
      });
    } finally {
      fs.rmSync(cwd, { recursive: true, force: true });
    }
  },
  180_000,
);
