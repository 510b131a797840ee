/**
 * `npm run fuzz [-- options]`: structure-aware fuzzing of a real Arogya server (issue 10). Without `--base` it
 * starts the built server (`dist/server/main.js serve`, cluster workers) on a fresh database — DATABASE_URL's
 * PostgreSQL, else an embedded one — and stops it at the end; with `--base URL` it fuzzes a running server.
 *
 *   --requests N      stop after N requests (default 10000)
 *   --seconds S       or after S seconds (default: no time bound)
 *   --concurrency C   requests in flight (default 4)
 *   --seed N          the PRNG seed (default: random, printed); the same seed sends the same requests
 *   --timeout MS      an answer slower than this is a hang (default 60000)
 *   --workers W       server worker processes when the fuzzer starts the server (default 2)
 *   --out DIR         where failing requests are saved (default ./fuzz-findings/<seed>-<time>)
 *   --known TAGS      comma-separated input tags (lone-surrogate, invalid-utf8, nul) whose findings are known
 *                     problems: reported apart, not failing the run
 *   --replay FILE     send one saved request again and print the answer (needs --base, or starts a server)
 *
 * Exit code: 0 no findings, 1 findings (5xx, hang, crash, non-OperationOutcome error, unparsable JSON), 2 usage.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { openBenchDatabase, type BenchDatabase } from '../bench/database';
import { serverErrors, startServer, type BenchServer } from '../bench/server';
import { send } from './http';
import { formatReport, loadRequest, runFuzz } from './runner';

interface Args {
  requests: number;
  seconds: number;
  concurrency: number;
  seed: number;
  timeout: number;
  workers: number;
  out?: string;
  base?: string;
  known: string[];
  replay?: string;
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    requests: 10_000,
    seconds: 7 * 24 * 3600,
    concurrency: 4,
    seed: Math.floor(Math.random() * 2 ** 31),
    timeout: 60_000,
    workers: 2,
    known: [],
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = argv[++i];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    const int = (): number => {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 0) throw new Error(`${flag} takes a non-negative integer`);
      return n;
    };
    if (flag === '--requests') a.requests = int();
    else if (flag === '--seconds') a.seconds = int();
    else if (flag === '--concurrency') a.concurrency = Math.max(1, int());
    else if (flag === '--seed') a.seed = int();
    else if (flag === '--timeout') a.timeout = int();
    else if (flag === '--workers') a.workers = Math.max(1, int());
    else if (flag === '--out') a.out = value;
    else if (flag === '--base') a.base = value.replace(/\/$/, '');
    else if (flag === '--known') a.known = value.split(',').filter(Boolean);
    else if (flag === '--replay') a.replay = value;
    else throw new Error(`unknown option ${flag}`);
  }
  return a;
}

async function main(): Promise<number> {
  let args: Args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(
      `${(e as Error).message}\nusage: npm run fuzz -- [--requests N] [--seconds S] [--concurrency C] [--seed N] [--timeout MS] [--workers W] [--base URL] [--out DIR] [--known TAGS] [--replay FILE]`,
    );
    return 2;
  }
  let db: BenchDatabase | undefined;
  let server: BenchServer | undefined;
  const logFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'arogya-fuzz-')), 'server.log');
  const stop = async (): Promise<void> => {
    await server?.stop().catch(() => undefined);
    await db?.close().catch(() => undefined);
  };
  // The first ctrl-c stops sending and prints the summary (the server is stopped after the last answer); a
  // second one stops everything at once.
  const interrupt = new AbortController();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (!interrupt.signal.aborted) return interrupt.abort();
      void stop().finally(() => process.exit(130));
    });
  }
  try {
    let base = args.base;
    if (!base) {
      // The fuzzer probes input handling, not authorization: the server it starts runs with AROGYA_AUTH=off
      // (fuzzing an authorised server: start it yourself and pass --base; npm test's short run uses a token).
      process.env.AROGYA_AUTH ??= 'off';
      db = await openBenchDatabase((m) => console.error(m));
      server = await startServer({ databaseUrl: db.url, workers: args.workers, logFile });
      base = server.base;
      console.log(`server: ${base} (${args.workers} workers, ${db.description}), log ${logFile}`);
    }
    if (args.replay) {
      const req = loadRequest(args.replay);
      const out = await send(new URL(new URL(base).origin), req, args.timeout, new http.Agent());
      console.log(
        out.kind === 'response'
          ? `${out.status}\n${JSON.stringify(out.headers, null, 1)}\n${out.body.toString('utf8').slice(0, 4000)}`
          : JSON.stringify(out),
      );
      return 0;
    }
    const out = args.out ?? path.join('fuzz-findings', `${args.seed}-${new Date().toISOString().replace(/[:.]/g, '-')}`);
    console.log(
      `fuzz seed ${args.seed}: up to ${args.requests} requests / ${args.seconds} s, concurrency ${args.concurrency}, timeout ${args.timeout} ms; findings → ${out}`,
    );
    const workerDeaths = (): boolean => fs.existsSync(logFile) && fs.readFileSync(logFile, 'utf8').includes('worker exited unexpectedly');
    const report = await runFuzz({
      base,
      seed: args.seed,
      requests: args.requests,
      seconds: args.seconds,
      concurrency: args.concurrency,
      timeoutMs: args.timeout,
      outDir: out,
      known: args.known,
      log: (l) => console.log(l),
      signal: interrupt.signal,
      alive: server
        ? async () => {
            const pidAlive = ((): boolean => {
              try {
                process.kill(server!.pid, 0);
                return true;
              } catch {
                return false;
              }
            })();
            return pidAlive && !workerDeaths();
          }
        : undefined,
    });
    if (server && workerDeaths()) report.crashed = true;
    console.log(formatReport(report));
    if (server) {
      const errors = serverErrors(logFile, 10);
      if (errors.length) console.log(`server error log lines:\n  ${errors.join('\n  ')}`);
    }
    return report.findings.length || report.crashed ? 1 : 0;
  } finally {
    await stop();
  }
}

main().then(
  (code) => process.exit(code),
  (e: Error) => {
    console.error(e.stack ?? e.message);
    process.exit(1);
  },
);
