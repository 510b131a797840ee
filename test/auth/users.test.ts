/**
 * Users who sign in at the authorization endpoint (DESIGN.md §1.1 "users"): argon2id password hashes, no
 * username oracle, `npx arogya user add` with the password on stdin; sign-in rate limits kept in PostgreSQL.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { createPool, type Pool } from '../../server/database/pool';
import { SignInLimiter } from '../../server/auth/rate-limit';
import { DuplicateUserError, UserInputError, UserStore } from '../../server/auth/users';
import { parseUserArgs } from '../../server/cli/user';
import { createTestDatabase } from '../harness';

let databaseUrl: string;
let pool: Pool;

beforeAll(async () => {
  databaseUrl = await createTestDatabase();
  pool = createPool(databaseUrl, 4);
});
afterAll(async () => pool.end());

describe('UserStore', () => {
  it('stores an argon2id hash, never the password, and verifies it', async () => {
    const users = new UserStore(pool);
    const created = await users.create({ username: 'asha', password: 'correct horse battery', fhirUser: 'Practitioner/p1' });
    expect(created).toMatchObject({ username: 'asha', fhirUser: 'Practitioner/p1' });
    const { rows } = await pool.query('SELECT password_hash FROM auth_user WHERE id = $1', [created.id]);
    expect(rows[0].password_hash).toMatch(/^\$argon2id\$/);
    expect(rows[0].password_hash).not.toContain('correct horse');
    expect(await users.verifyPassword('asha', 'correct horse battery')).toMatchObject({ id: created.id, fhirUser: 'Practitioner/p1' });
    expect(await users.verifyPassword('asha', 'wrong password')).toBeUndefined();
    expect(await users.verifyPassword('nobody', 'correct horse battery')).toBeUndefined();
  });

  it('refuses duplicates and bad fields with clear messages', async () => {
    const users = new UserStore(pool);
    await users.create({ username: 'dup', password: 'password-1', fhirUser: 'Patient/x' });
    await expect(users.create({ username: 'dup', password: 'password-2', fhirUser: 'Patient/y' })).rejects.toBeInstanceOf(DuplicateUserError);
    await expect(users.create({ username: 'a b', password: 'password-1', fhirUser: 'Patient/x' })).rejects.toThrow(/username/);
    await expect(users.create({ username: 'short', password: 'short', fhirUser: 'Patient/x' })).rejects.toThrow(/password/);
    await expect(users.create({ username: 'org', password: 'password-1', fhirUser: 'Organization/x' })).rejects.toBeInstanceOf(UserInputError);
  });

  it('finds users by upstream identity and by e-mail username', async () => {
    const users = new UserStore(pool);
    const u = await users.create({ username: 'Meera@Example.org', fhirUser: 'Practitioner/m', oidcIssuer: 'https://idp', oidcSubject: 's-1' });
    expect(await users.byOidcIdentity('https://idp', 's-1')).toMatchObject({ id: u.id });
    expect(await users.byOidcIdentity('https://other', 's-1')).toBeUndefined();
    expect(await users.byEmailUsername('meera@example.org')).toMatchObject({ id: u.id });
    // no password: signing in with one never works
    expect(await users.verifyPassword('Meera@Example.org', '')).toBeUndefined();
  });
});

describe('SignInLimiter', () => {
  it('refuses a username after its failures, and an address after its own, until the window ends', async () => {
    const limiter = new SignInLimiter(pool, { perUser: 3, perAddress: 5, windowSeconds: 60 });
    expect(await limiter.retryAfter('ravi', '10.0.0.1')).toBe(0);
    for (let i = 0; i < 3; i++) await limiter.failed('ravi', '10.0.0.1');
    expect(await limiter.retryAfter('ravi', '10.0.0.2')).toBeGreaterThan(0);
    expect(await limiter.retryAfter('RAVI', '10.0.0.2')).toBeGreaterThan(0);
    expect(await limiter.retryAfter('sita', '10.0.0.2')).toBe(0);
    // the address: 5 failures over different usernames
    for (const name of ['a', 'b']) await limiter.failed(name, '10.0.0.1');
    expect(await limiter.retryAfter('sita', '10.0.0.1')).toBeGreaterThan(0);
    // a success clears the username's count, not the address's
    await limiter.succeeded('ravi');
    expect(await limiter.retryAfter('ravi', '10.0.0.3')).toBe(0);
    expect(await limiter.retryAfter('ravi', '10.0.0.1')).toBeGreaterThan(0);
  });

  it('starts a new window once the old one has passed', async () => {
    const limiter = new SignInLimiter(pool, { perUser: 1, perAddress: 100, windowSeconds: 60 });
    await limiter.failed('old', '10.1.0.1');
    expect(await limiter.retryAfter('old', '10.1.0.1')).toBeGreaterThan(0);
    await pool.query(`UPDATE auth_rate SET window_start = now() - interval '2 minutes' WHERE key = 'signin:user:old'`);
    expect(await limiter.retryAfter('old', '10.1.0.1')).toBe(0);
    await limiter.failed('old', '10.1.0.1');
    const { rows } = await pool.query(`SELECT count FROM auth_rate WHERE key = 'signin:user:old'`);
    expect(rows[0].count).toBe(1);
  });
});

describe('arogya user add', () => {
  it('parses its arguments', () => {
    expect(parseUserArgs(['add', '--username', 'u', '--fhir-user', 'Practitioner/1'])).toEqual({ username: 'u', fhirUser: 'Practitioner/1' });
    expect(parseUserArgs(['add', '--username=u', '--fhir-user=Patient/2'])).toEqual({ username: 'u', fhirUser: 'Patient/2' });
    expect(() => parseUserArgs(['add', '--username', 'u'])).toThrow(/required/);
    expect(() => parseUserArgs(['add', '--password', 'x'])).toThrow(/unknown option/);
    expect(() => parseUserArgs(['remove'])).toThrow(/subcommand/);
    expect(parseUserArgs(['add', '--username', 'u', '--fhir-user', 'Practitioner/1', '--oidc-issuer', 'https://idp', '--oidc-subject', 's'])).toEqual(
      {
        username: 'u',
        fhirUser: 'Practitioner/1',
        oidcIssuer: 'https://idp',
        oidcSubject: 's',
      },
    );
    expect(() => parseUserArgs(['add', '--username', 'u', '--fhir-user', 'Practitioner/1', '--oidc-issuer', 'https://idp'])).toThrow(/together/);
  });

  const cli = path.resolve(__dirname, '..', '..', 'dist', 'server', 'main.js');
  const run = (args: string[], stdin: string): Promise<{ code: number | null; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      const child = spawn(process.execPath, [cli, ...args], {
        env: { PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: 'warn', DATABASE_URL: databaseUrl },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('exit', (code) => resolve({ code, stdout, stderr }));
      child.stdin.end(stdin);
    });

  it('adds a user whose password comes from stdin, never the command line', async () => {
    const ok = await run(['user', 'add', '--username', 'cli-user', '--fhir-user', 'Practitioner/cli'], 'a long enough password\n');
    expect(ok).toMatchObject({ code: 0 });
    expect(ok.stdout).toContain('cli-user');
    expect(ok.stdout + ok.stderr).not.toContain('a long enough password');
    expect(await new UserStore(pool).verifyPassword('cli-user', 'a long enough password')).toMatchObject({ fhirUser: 'Practitioner/cli' });
    const again = await run(['user', 'add', '--username', 'cli-user', '--fhir-user', 'Practitioner/cli'], 'another password\n');
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/exists/);
    const usage = await run(['user', 'add', '--username', 'x'], '');
    expect(usage.code).toBe(2);
  });
});
