/**
 * CLI entry: `arogya serve | migrate | import` (DESIGN.md §1). `serve` starts the embedded PostgreSQL unless DATABASE_URL
 * is set, applies migrations, then serves FHIR from one worker process per core (node:cluster) so both cores
 * take requests. SIGTERM/SIGINT/SIGHUP: stop accepting, finish in-flight requests in every worker, then stop the
 * embedded database cleanly — this order is ours (embedded.ts removes the package's own signal handlers).
 */
import cluster from 'node:cluster';
import pino from 'pino';
import { buildApp } from './app';
import { drainable } from './drain';
import { bootstrapAdminClient } from './auth/bootstrap';
import { ConfigError, authBaseOf, loadConfig, type Config } from './config';
import { isEmbeddedDatabaseUsageError, startEmbeddedDatabase, type EmbeddedDatabase } from './database/embedded';
import { migrateLatest } from './database/migrate';
import { createPool, servingLimits } from './database/pool';
import { isResourceType, r4Model } from './fhir/definitions';
import { IMPORT_USAGE, Importer, parseImportArgs } from './cli/import';
import { USER_USAGE, parseUserArgs, readPasswordLine } from './cli/user';
import { describeSeed, seedDemo } from './cli/seed-demo';
import { DuplicateUserError, UserInputError, UserStore } from './auth/users';
import { recordSubscriptionOwners } from './events/subscriptions/owner';
import { Repository } from './repository/repository';
import { SYSTEM_CALLER } from './repository/caller';
import { TransactionProcessor } from './repository/transaction';
import { rebuildSearchIndex } from './repository/search/rebuild';
import { OperationOutcomeError } from './fhir/outcome';

const WORKER_DB_ENV = 'AROGYA_WORKER_DATABASE_URL';

function logger(config: Config): pino.Logger {
  return pino({ level: config.logLevel });
}

async function openDatabase(config: Config, log: pino.Logger): Promise<{ url: string; embedded?: EmbeddedDatabase }> {
  if (config.databaseUrl) return { url: config.databaseUrl };
  const embedded = await startEmbeddedDatabase(config.dataDir, (m) => log.info(m));
  log.info({ dataDir: config.dataDir }, 'embedded PostgreSQL started');
  return { url: embedded.url, embedded };
}

/** One HTTP server process; resolves with a function that shuts it down gracefully. */
async function serveHttp(config: Config, url: string, log: pino.Logger): Promise<() => Promise<void>> {
  const pool = createPool(url, config.poolSize, 'arogya', servingLimits(config));
  const app = await buildApp(config, pool);
  const drainAndClose = drainable(app);
  await app.listen({ port: config.port, host: config.host });
  return async () => {
    await drainAndClose();
    await pool.end();
    log.debug('worker closed');
  };
}

async function serve(config: Config, args: string[] = []): Promise<void> {
  const log = logger(config);
  const unknown = args.filter((a) => a !== '--demo');
  if (unknown.length) {
    console.error(`arogya serve: unknown option ${unknown.join(' ')}\nusage: arogya serve [--demo]`);
    process.exit(2);
  }
  if (cluster.isWorker) {
    const close = await serveHttp(config, process.env[WORKER_DB_ENV]!, log);
    process.on('SIGTERM', () => void close().then(() => process.exit(0)));
    // the primary coordinates shutdown (a terminal's Ctrl-C or hangup reaches the whole process group)
    process.on('SIGINT', () => undefined);
    process.on('SIGHUP', () => undefined);
    return;
  }
  // Signals are handled from the start: a SIGTERM that arrives while workers are still starting (the first one may
  // already be serving) must still be a graceful shutdown, not the default action that kills the primary at once.
  let stopping = false;
  let closeLocal: (() => Promise<void>) | undefined;
  const opening = openDatabase(config, log);
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down: finishing in-flight requests');
    if (closeLocal) await closeLocal();
    await Promise.all(
      Object.values(cluster.workers ?? {}).map(
        (w) =>
          new Promise<void>((resolve) => {
            if (!w || w.isDead()) return resolve();
            w.once('exit', () => resolve());
            w.process.kill('SIGTERM');
          }),
      ),
    );
    const opened = await opening.catch(() => undefined);
    if (opened?.embedded) await opened.embedded.stop();
    log.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGHUP', () => void shutdown('SIGHUP'));

  const db = await opening;
  const applied = await migrateLatest(db.url);
  if (applied.length) log.info({ migrations: applied }, 'migrations applied');
  r4Model(); // build the definitions cache once before workers start
  if (config.auth === 'off') {
    log.warn('AROGYA_AUTH=off: this server accepts every request without authentication or authorization. Local experiments only.');
  } else {
    const pool = createPool(db.url, 1, 'arogya-bootstrap');
    try {
      const generated = await bootstrapAdminClient(pool, config);
      // printed once, on stdout (never in the log stream), at the first start; stored mode 0600 under the data dir
      if (generated) {
        process.stdout.write(
          `\nArogya admin client (generated, shown once; also in ${generated.file}, mode 0600):\n` +
            `  client_id:     ${generated.clientId}\n  client_secret: ${generated.clientSecret}\n` +
            `  token: curl -u '${generated.clientId}:<secret>' -d grant_type=client_credentials -d scope=system/*.cruds ${authBaseOf(config.baseUrl)}/token\n\n`,
        );
      }
    } finally {
      await pool.end();
    }
  }

  if (args.includes('--demo') && !stopping) await seedDemoOn(config, db.url);

  if (stopping) return;
  log.info({ workers: config.workers }, 'starting HTTP workers');
  if (config.workers > 1) {
    cluster.setupPrimary({ env: { ...process.env, [WORKER_DB_ENV]: db.url } } as Parameters<typeof cluster.setupPrimary>[0]);
    for (let i = 0; i < config.workers && !stopping; i++) cluster.fork({ [WORKER_DB_ENV]: db.url });
    cluster.on('exit', (worker, code) => {
      if (!stopping) {
        log.error({ worker: worker.id, code }, 'worker exited unexpectedly; starting a replacement');
        cluster.fork({ [WORKER_DB_ENV]: db.url });
      }
    });
    await new Promise<void>((resolve) => {
      let listening = 0;
      cluster.on('listening', () => {
        if (++listening === config.workers) resolve();
      });
    });
  } else {
    const close = await serveHttp(config, db.url, log);
    if (stopping)
      await close(); // a signal came while it started: shutdown found nothing to close
    else closeLocal = close;
  }
  log.info(
    { url: config.baseUrl, database: db.embedded ? 'embedded' : 'external', workers: config.workers },
    `Arogya FHIR R4 server listening on http://${config.host}:${config.port}/fhir`,
  );
}

/**
 * For the one-shot commands: a signal stops the embedded database (work in flight rolls back) and exits 128+n, as
 * the default action would, but without leaving PostgreSQL running.
 */
function stopOnSignals(db: { embedded?: EmbeddedDatabase }): void {
  if (!db.embedded) return;
  const embedded = db.embedded;
  for (const [signal, n] of [
    ['SIGINT', 2],
    ['SIGTERM', 15],
    ['SIGHUP', 1],
  ] as const) {
    process.once(signal, () => void embedded.stop().finally(() => process.exit(128 + n)));
  }
}

/** A command's database: the external one, or the embedded one stopped on a signal (stopOnSignals). */
async function openCommandDatabase(config: Config, log: pino.Logger): Promise<{ url: string; embedded?: EmbeddedDatabase }> {
  const db = await openDatabase(config, log);
  stopOnSignals(db);
  return db;
}

async function migrate(config: Config): Promise<void> {
  const log = logger(config);
  const db = await openCommandDatabase(config, log);
  try {
    const applied = await migrateLatest(db.url);
    log.info({ migrations: applied }, applied.length ? 'migrations applied' : 'database is up to date');
  } finally {
    await db.embedded?.stop();
  }
}

/** Writes the demo network (cli/seed-demo.ts) into the database at `url`; progress on stderr, the credentials on stdout. */
async function seedDemoOn(config: Config, url: string): Promise<void> {
  const pool = createPool(url, 2, 'arogya-seed-demo');
  try {
    const summary = await seedDemo({ pool, config, progress: (line) => process.stderr.write(`seed-demo: ${line}\n`) });
    process.stdout.write(describeSeed(summary, config));
  } finally {
    await pool.end();
  }
}

/** `seed-demo`: the demo hospital network, idempotent (a second run writes nothing). Exit code 0, or 1 on failure. */
async function seedDemoCommand(config: Config, args: string[]): Promise<void> {
  if (args.length) {
    console.error(`arogya seed-demo: takes no arguments\nusage: arogya seed-demo`);
    process.exitCode = 2;
    return;
  }
  const log = logger({ ...config, logLevel: config.logLevel === 'info' ? 'warn' : config.logLevel });
  const db = await openCommandDatabase(config, log);
  try {
    await migrateLatest(db.url);
    await seedDemoOn(config, db.url);
  } catch (e) {
    if (!(e instanceof OperationOutcomeError)) throw e;
    const issues = e.issues.map((i) => `${i.expression?.join(', ') ?? ''} ${i.diagnostics}`.trim());
    console.error(`arogya seed-demo: a write was refused (${e.status}): ${issues.join('; ')}`);
    process.exitCode = 1;
  } finally {
    await db.embedded?.stop();
  }
}

const USAGE = `usage: arogya <command>
  serve     serve the FHIR API (default); serve --demo writes the demo network first (see seed-demo)
  seed-demo write the demo hospital network (3 hospitals, 10 doctors, 200 patients, visits, bills), its SMART users and demo app; prints their credentials
  migrate   apply database migrations and exit
  import    load FHIR Bundles and NDJSON files: arogya import [--concurrency N] <files or folders>…
  reindex   rebuild the search index rows of stored resources: arogya reindex [ResourceType…] (default: all)
  user add  add a user who signs in at the authorization endpoint: arogya user add --username U --fhir-user Practitioner/ID (password on stdin)`;

/**
 * `user add`: creates a user who signs in at /auth/authorize (auth/users.ts), the password read from stdin. Exit
 * code 0 created, 1 refused (taken username, bad password or fhirUser), 2 usage.
 */
async function userCommand(config: Config, args: string[]): Promise<void> {
  let parsed: ReturnType<typeof parseUserArgs>;
  try {
    parsed = parseUserArgs(args);
  } catch (e) {
    console.error(`arogya user: ${(e as Error).message}\n${USER_USAGE}`);
    process.exitCode = 2;
    return;
  }
  const password = await readPasswordLine();
  const log = logger({ ...config, logLevel: config.logLevel === 'info' ? 'warn' : config.logLevel });
  const db = await openCommandDatabase(config, log);
  const pool = createPool(db.url, 1, 'arogya-user');
  try {
    await migrateLatest(db.url);
    // a user linked to an upstream identity may have no password (an empty line)
    const user = await new UserStore(pool).create({ ...parsed, ...(password || !parsed.oidcSubject ? { password } : {}) });
    console.log(`user ${user.username} (${user.fhirUser}) added`);
  } catch (e) {
    if (!(e instanceof UserInputError || e instanceof DuplicateUserError)) throw e;
    console.error(`arogya user: ${e.message}`);
    process.exitCode = 1;
  } finally {
    await pool.end();
    await db.embedded?.stop();
  }
}

/**
 * `reindex`: rebuilds the search index rows of the stored resources of the given types (default all), as a write
 * of the same content would write them today (repository/search/rebuild.ts); the server may keep running. Exit
 * code 0 done, 1 some resources were skipped (listed), 2 usage.
 */
async function reindexCommand(config: Config, args: string[]): Promise<void> {
  const unknown = args.filter((t) => !isResourceType(t));
  if (unknown.length) {
    console.error(`arogya reindex: not R4 resource types: ${unknown.join(', ')}\nusage: arogya reindex [ResourceType…]`);
    process.exitCode = 2;
    return;
  }
  const log = logger({ ...config, logLevel: config.logLevel === 'info' ? 'warn' : config.logLevel });
  const db = await openCommandDatabase(config, log);
  const pool = createPool(db.url, 2, 'arogya-reindex');
  const started = Date.now();
  let skipped = 0;
  try {
    await migrateLatest(db.url);
    const counts = await rebuildSearchIndex(pool, {
      timeZone: config.timeZone,
      baseUrl: config.baseUrl,
      types: args.length ? args : undefined,
      onProgress: (type, done) => process.stderr.write(`${type}: ${done.toLocaleString('en-US')} resources\n`),
      onSkipped: (type, id, reason) => {
        skipped++;
        console.error(`${type}/${id}: skipped, its index rows are kept as they were: ${reason}`);
      },
    });
    const total = [...counts.values()].reduce((a, b) => a + b, 0);
    console.log(
      `reindexed ${total.toLocaleString('en-US')} resources of ${counts.size} types in ${((Date.now() - started) / 1000).toFixed(1)} s${skipped ? `; ${skipped} skipped` : ''}`,
    );
    process.exitCode = skipped ? 1 : 0;
  } finally {
    await pool.end();
    await db.embedded?.stop();
  }
}

/**
 * `import`: straight into the database (DATABASE_URL or the embedded one), no server needed; migrations are
 * applied first, as `serve` does. Sets the exit code: 0 all loaded, 1 something failed, 2 usage.
 */
async function importCommand(config: Config, args: string[]): Promise<void> {
  let parsed: { paths: string[]; concurrency: number };
  try {
    parsed = parseImportArgs(args);
  } catch (e) {
    console.error(`arogya import: ${(e as Error).message}\n${IMPORT_USAGE}`);
    process.exitCode = 2;
    return;
  }
  const log = logger({ ...config, logLevel: config.logLevel === 'info' ? 'warn' : config.logLevel });
  const db = await openCommandDatabase(config, log);
  // A bundle holds one connection for its transaction and may briefly need a second (terminology lookups).
  const pool = createPool(db.url, 2 * parsed.concurrency + 2, 'arogya-import');
  try {
    await migrateLatest(db.url);
    // Imported versions go to the outbox like every write; the next server process to run dispatches them.
    const repo = new Repository(pool, {
      referentialIntegrity: config.referentialIntegrity,
      baseUrl: config.baseUrl,
      timeZone: config.timeZone,
      afterWrite: [recordSubscriptionOwners],
      outbox: true,
      subscriptionAllow: config.subscriptionAllow,
      uniqueIdentifiers: config.uniqueIdentifiers,
      maxIndexValues: config.maxIndexValues,
    });
    const importer = new Importer(new TransactionProcessor(repo), SYSTEM_CALLER, config.baseUrl, { concurrency: parsed.concurrency });
    process.exitCode = await importer.run(parsed.paths);
  } finally {
    await pool.end();
    await db.embedded?.stop();
  }
}

export async function main(argv: string[]): Promise<void> {
  const [command = 'serve'] = argv;
  let config: Config;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`configuration error: ${e.message}`);
      process.exit(2);
    }
    throw e;
  }
  switch (command) {
    case 'serve':
      return serve(config, argv.slice(1));
    case '--demo':
      return serve(config, argv);
    case 'seed-demo':
      return seedDemoCommand(config, argv.slice(1));
    case 'migrate':
      return migrate(config);
    case 'import':
      return importCommand(config, argv.slice(1));
    case 'reindex':
      return reindexCommand(config, argv.slice(1));
    case 'user':
      return userCommand(config, argv.slice(1));
    case '-h':
    case '--help':
    case 'help':
      console.log(USAGE);
      return;
    default:
      console.error(`unknown command '${command}'\n${USAGE}`);
      process.exit(2);
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    // A data dir in use is the user's situation, not a bug: the message says what to do, no stack.
    console.error(isEmbeddedDatabaseUsageError(e) ? `arogya: ${e.message}` : e instanceof Error ? e.stack : e);
    process.exit(1);
  });
}
