/**
 * Runs the fuzzer against a live server: seeds a population, then sends generated requests with bounded
 * concurrency until the request count or the time budget is spent, and judges every answer:
 * - a 5xx is a finding, except a 503 carrying an OperationOutcome (a deliberate limit: counted apart);
 * - no answer within the timeout is a hang; the server gone (connection refused, `alive()` false) is a crash;
 * - a 4xx without an OperationOutcome body (HEAD aside) is a finding, as is a 2xx JSON answer that does not parse.
 * Each finding is saved as a JSON file holding the exact request (method, path, headers, body) to replay it.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { send, type Outcome } from './http';
import { RequestGenerator, type FuzzRequest } from './requests';
import { seedPopulation } from './seed';

export type Category = '5xx' | 'hang' | 'crash' | 'non-outcome' | 'bad-json';

export interface Finding {
  index: number;
  category: Category;
  /** Input traits (lone-surrogate, invalid-utf8, …) that a known, not yet fixed, problem is filed under. */
  tags: string[];
  known: boolean;
  request: FuzzRequest;
  status?: number;
  excerpt: string;
  file?: string;
}

export interface FuzzOptions {
  /** FHIR base URL of the server, e.g. http://127.0.0.1:8080/fhir */
  base: string;
  seed: number;
  requests: number;
  seconds: number;
  concurrency: number;
  timeoutMs: number;
  /** `short` keeps bodies and bundles small (the run inside npm test); default `full`. */
  profile?: 'full' | 'short';
  /** Where failing requests are saved (none saved when unset). */
  outDir?: string;
  /** Tags whose findings are known and reported apart (they do not fail the run). */
  known?: string[];
  /** Whether the server process is still there (for crash detection); defaults to probing /healthz. */
  alive?: () => Promise<boolean>;
  log?: (line: string) => void;
  /** Stops sending (in-flight requests still finish and are judged), e.g. on ctrl-c. */
  signal?: AbortSignal;
  /**
   * A bearer token for the server (SMART on): sent with every request whose generated headers carry no
   * Authorization of their own, so the fuzzing reaches past the gate.
   */
  token?: () => Promise<string | undefined>;
}

/** The request with `Authorization: Bearer <token>` unless it has an Authorization header already. */
async function authorized(req: FuzzRequest, token: FuzzOptions['token']): Promise<FuzzRequest> {
  const t = await token?.();
  if (!t || Object.keys(req.headers).some((h) => h.toLowerCase() === 'authorization')) return req;
  return { ...req, headers: { ...req.headers, authorization: `Bearer ${t}` } };
}

export interface FuzzReport {
  seed: number;
  sent: number;
  seeded: number;
  durationMs: number;
  /** Answers by class: 2xx, 3xx, 4xx, 503 (limits with an OperationOutcome), 5xx, hang, reset, crash, unsent (refused by Node's client). */
  classes: Record<string, number>;
  /** Per request kind: count and answers by class. */
  kinds: Record<string, Record<string, number>>;
  findings: Finding[];
  knownFindings: Finding[];
  /** 503s with an OperationOutcome (and batch entries answered 503) by cause: request deadline, statement timeout, … */
  limits: Record<string, number>;
  /** Connection resets while the server stayed up (e.g. a refused oversized body), with a sample. */
  resets: { count: number; sample?: string };
  slowest: { ms: number; kind: string; method: string; path: string }[];
  crashed: boolean;
}

const MAX_SAVED = 200;

function isOutcome(body: Buffer): boolean {
  try {
    return (JSON.parse(body.toString('utf8')) as { resourceType?: unknown }).resourceType === 'OperationOutcome';
  } catch {
    return false;
  }
}

/** Traits of the input that known problems are filed under. */
export function tagsOf(req: FuzzRequest): string[] {
  const tags: string[] = [];
  const body = req.body?.toString('latin1') ?? '';
  const text = `${req.path}\n${Object.values(req.headers).join('\n')}\n${body}`;
  if (
    /\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F])|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}/.test(text) ||
    /%ED%[AB][0-9A-F]/i.test(req.path)
  )
    tags.push('lone-surrogate');
  if (req.body && !isUtf8(req.body)) tags.push('invalid-utf8');
  if (/\\u0000|%00/.test(text)) tags.push('nul');
  // issue 10 item 3: a query with hundreds of criteria (repeated parameters) runs unbounded
  if (criteriaCount(req) > 50) tags.push('many-criteria');
  return tags;
}

function criteriaCount(req: FuzzRequest): number {
  const query = req.path.includes('?') ? req.path.slice(req.path.indexOf('?') + 1) : '';
  const form = /x-www-form-urlencoded/.test(req.headers['content-type'] ?? '') ? (req.body?.toString('latin1') ?? '') : '';
  const header = req.headers['if-none-exist'] ?? '';
  return Math.max(...[query, form, header].map((q) => q.split('&').length));
}

function isUtf8(b: Buffer): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(b);
    return true;
  } catch {
    return false;
  }
}

/** Why a 503 (or a batch entry's 503) was answered, from its OperationOutcome: each must be a deliberate limit. */
export function limitCause(outcome: unknown): string {
  const issue = (outcome as { issue?: { code?: string; diagnostics?: string }[] } | undefined)?.issue?.[0];
  const text = issue?.diagnostics ?? '';
  if (/AROGYA_REQUEST_DEADLINE_MS/.test(text)) return 'request deadline';
  if (/did not answer within the server's time limit/.test(text)) return 'statement timeout';
  if (/no free connection|database is unavailable/.test(text)) return 'database busy or unavailable';
  if (/shutting down/.test(text)) return 'shutting down';
  return `other (${issue?.code ?? 'no issue'})`;
}

/**
 * The entries of a batch/transaction response: a 5xx entry is a finding unless it is a 503 with an OperationOutcome
 * (a limit, counted by cause like a 503 answer).
 */
function bundleEntries(json: unknown): { limits: string[]; fault?: string } {
  const b = json as { resourceType?: string; type?: string; entry?: { response?: { status?: string; outcome?: unknown } }[] };
  const out: { limits: string[]; fault?: string } = { limits: [] };
  if (b?.resourceType !== 'Bundle' || (b.type !== 'batch-response' && b.type !== 'transaction-response')) return out;
  for (const [i, e] of (b.entry ?? []).entries()) {
    const status = Number.parseInt(e.response?.status ?? '', 10);
    if (!(status >= 500)) continue;
    const outcome = e.response?.outcome as { resourceType?: string } | undefined;
    if (status === 503 && outcome?.resourceType === 'OperationOutcome') out.limits.push(limitCause(outcome));
    else out.fault ??= `entry ${i}: ${JSON.stringify(e.response).slice(0, 400)}`;
  }
  return out;
}

function judge(req: FuzzRequest, out: Outcome): { cls: string; category?: Category; excerpt: string; limits?: string[] } {
  if (out.kind === 'timeout') return { cls: 'hang', category: 'hang', excerpt: `no answer within ${out.ms} ms` };
  // Node's client would not even form the request (a header or path it refuses): nothing reached the server.
  if (out.kind === 'error' && out.code === 'CLIENT_REFUSED') return { cls: 'unsent', excerpt: out.message };
  if (out.kind === 'error') return { cls: 'reset', excerpt: `${out.code}: ${out.message}` };
  const excerpt = `${out.status} ${out.body.toString('utf8').slice(0, 600)}`;
  const outcome = isOutcome(out.body);
  if (out.status === 503 && outcome) return { cls: '503', excerpt, limits: [limitCause(JSON.parse(out.body.toString('utf8')))] };
  if (out.status >= 500) return { cls: '5xx', category: '5xx', excerpt };
  if (out.status >= 400) return { cls: '4xx', category: outcome || req.method === 'HEAD' ? undefined : 'non-outcome', excerpt };
  if (out.status >= 300) return { cls: '3xx', excerpt };
  const type = String(out.headers['content-type'] ?? '');
  if (req.method !== 'HEAD' && out.body.length && /json/.test(type) && !/ndjson/.test(type)) {
    let json: unknown;
    try {
      json = JSON.parse(out.body.toString('utf8'));
    } catch {
      return { cls: '2xx', category: 'bad-json', excerpt };
    }
    const entries = bundleEntries(json);
    if (entries.fault) return { cls: '2xx', category: '5xx', excerpt: `${out.status}, a 5xx ${entries.fault}` };
    return { cls: '2xx', excerpt, limits: entries.limits.map((c) => `batch entry: ${c}`) };
  }
  return { cls: '2xx', excerpt };
}

/** The saved form of a request: the body as text when it is valid UTF-8, else base64. */
export function savedRequest(req: FuzzRequest): Record<string, unknown> {
  const body = req.body === undefined ? {} : isUtf8(req.body) ? { body: req.body.toString('utf8') } : { bodyBase64: req.body.toString('base64') };
  return { kind: req.kind, method: req.method, path: req.path, headers: req.headers, ...body };
}

export function loadRequest(file: string): FuzzRequest {
  const saved = JSON.parse(fs.readFileSync(file, 'utf8')) as {
    request: { kind: string; method: string; path: string; headers: Record<string, string>; body?: string; bodyBase64?: string };
  };
  const r = saved.request;
  const body = r.bodyBase64 !== undefined ? Buffer.from(r.bodyBase64, 'base64') : r.body !== undefined ? Buffer.from(r.body, 'utf8') : undefined;
  return { kind: r.kind, method: r.method, path: r.path, headers: r.headers, body };
}

export async function runFuzz(opts: FuzzOptions): Promise<FuzzReport> {
  const base = new URL(opts.base);
  const origin = new URL(base.origin);
  const prefix = base.pathname.replace(/\/$/, '');
  const log = opts.log ?? (() => undefined);
  const agent = new http.Agent({ keepAlive: true, maxSockets: opts.concurrency + 1 });
  const alive =
    opts.alive ??
    (async () => {
      const o = await send(origin, { kind: 'probe', method: 'GET', path: '/healthz', headers: {} }, 10_000, new http.Agent());
      return o.kind === 'response' && o.status === 200;
    });
  const gen = new RequestGenerator(opts.seed, prefix, opts.profile);
  const started = Date.now();
  const report: FuzzReport = {
    seed: opts.seed,
    sent: 0,
    seeded: 0,
    durationMs: 0,
    classes: {},
    kinds: {},
    findings: [],
    knownFindings: [],
    resets: { count: 0 },
    limits: {},
    slowest: [],
    crashed: false,
  };
  try {
    const seedToken = await opts.token?.();
    report.seeded = await seedPopulation(
      gen,
      opts.seed,
      origin,
      prefix,
      agent,
      opts.timeoutMs,
      seedToken ? { authorization: `Bearer ${seedToken}` } : {},
    );
    log(`seeded ${report.seeded} resources`);
    const deadline = Date.now() + opts.seconds * 1000;
    let next = 0;
    let saved = 0;
    let lastLog = Date.now();
    const record = async (index: number, req: FuzzRequest, out: Outcome): Promise<void> => {
      let { cls, category, excerpt, limits } = judge(req, out);
      for (const cause of limits ?? []) report.limits[cause] = (report.limits[cause] ?? 0) + 1;
      if (cls === 'reset' && !(await alive())) {
        cls = 'crash';
        category = 'crash';
        report.crashed = true;
      } else if (cls === 'reset') {
        report.resets.count++;
        report.resets.sample ??= `${req.method} ${req.path.slice(0, 200)}: ${excerpt}`;
      }
      report.classes[cls] = (report.classes[cls] ?? 0) + 1;
      const k = (report.kinds[req.kind] ??= {});
      k.total = (k.total ?? 0) + 1;
      k[cls] = (k[cls] ?? 0) + 1;
      if (out.kind === 'response') {
        report.slowest.push({ ms: out.ms, kind: req.kind, method: req.method, path: req.path.slice(0, 300) });
        report.slowest.sort((a, b) => b.ms - a.ms).splice(5);
      }
      if (!category) return;
      const tags = tagsOf(req);
      const known = category !== 'crash' && tags.some((t) => opts.known?.includes(t));
      const finding: Finding = { index, category, tags, known, request: req, status: out.kind === 'response' ? out.status : undefined, excerpt };
      if (opts.outDir && saved < MAX_SAVED) {
        saved++;
        fs.mkdirSync(opts.outDir, { recursive: true });
        finding.file = path.join(opts.outDir, `${known ? 'known-' : ''}${category}-${index}.json`);
        fs.writeFileSync(
          finding.file,
          JSON.stringify({ seed: opts.seed, index, category, tags, status: finding.status, excerpt, request: savedRequest(req) }, null, 2),
        );
      }
      (known ? report.knownFindings : report.findings).push(finding);
    };
    const worker = async (): Promise<void> => {
      while (!report.crashed && !opts.signal?.aborted && next < opts.requests && Date.now() < deadline) {
        const index = next++;
        let req: FuzzRequest;
        try {
          req = gen.request(index);
        } catch (e) {
          throw new Error(`the generator failed on request ${index} of seed ${opts.seed}: ${(e as Error).stack ?? String(e)}`);
        }
        report.sent++;
        const out = await send(origin, await authorized(req, opts.token), opts.timeoutMs, agent);
        await record(index, req, out);
        if (Date.now() - lastLog > 10_000) {
          lastLog = Date.now();
          log(
            `${report.sent} requests, ${((Date.now() - started) / 1000).toFixed(0)} s, ${JSON.stringify(report.classes)}, ${report.findings.length} findings`,
          );
        }
      }
    };
    await Promise.all(Array.from({ length: opts.concurrency }, worker));
  } finally {
    agent.destroy();
    report.durationMs = Date.now() - started;
  }
  return report;
}

/** A human summary: counts per class, per kind, the findings (first few in full) and where they are saved. */
export function formatReport(r: FuzzReport, maxShown = 10): string {
  const lines: string[] = [];
  const c = (k: string): number => r.classes[k] ?? 0;
  lines.push(
    `fuzz seed ${r.seed}: ${r.sent} requests in ${(r.durationMs / 1000).toFixed(1)} s (${(r.sent / (r.durationMs / 1000)).toFixed(0)}/s) after seeding ${r.seeded} resources`,
  );
  lines.push(
    `  2xx ${c('2xx')} · 3xx ${c('3xx')} · 4xx ${c('4xx')} · 503 limits (with OperationOutcome) ${c('503')} · 5xx ${c('5xx')} · hangs ${c('hang')} · crashes ${c('crash')} · connection resets ${r.resets.count} · not sent (refused by Node's client) ${c('unsent')}`,
  );
  lines.push(
    `  findings: ${r.findings.length}${r.knownFindings.length ? ` (+ ${r.knownFindings.length} known: ${summariseTags(r.knownFindings)})` : ''}`,
  );
  lines.push(
    '  by kind: ' +
      Object.entries(r.kinds)
        .sort((a, b) => (b[1].total ?? 0) - (a[1].total ?? 0))
        .map(
          ([k, v]) =>
            `${k} ${v.total}${Object.entries(v)
              .filter(([x]) => x !== 'total' && x !== '2xx' && x !== '4xx')
              .map(([x, n]) => ` ${x}:${n}`)
              .join('')}`,
        )
        .join(', '),
  );
  const limits = Object.entries(r.limits);
  if (limits.length) lines.push(`  503 limits by cause: ${limits.map(([k, n]) => `${k} ${n}`).join(' · ')}`);
  if (r.resets.sample) lines.push(`  first reset: ${r.resets.sample}`);
  lines.push(`  slowest: ${r.slowest.map((s) => `${s.ms} ms ${s.kind} ${s.method} ${s.path.slice(0, 120)}`).join('\n           ')}`);
  for (const f of r.findings.slice(0, maxShown)) lines.push(describeFinding(f));
  if (r.findings.length > maxShown) lines.push(`  … and ${r.findings.length - maxShown} more`);
  return lines.join('\n');
}

function summariseTags(fs: Finding[]): string {
  const counts = new Map<string, number>();
  for (const f of fs) for (const t of f.tags) counts.set(`${f.category}/${t}`, (counts.get(`${f.category}/${t}`) ?? 0) + 1);
  return [...counts].map(([k, n]) => `${k} ×${n}`).join(', ');
}

export function describeFinding(f: Finding): string {
  const body = f.request.body ? f.request.body.toString('utf8') : '';
  return [
    `— ${f.category} #${f.index} (${f.request.kind})${f.tags.length ? ` [${f.tags.join(', ')}]` : ''}: ${f.excerpt.slice(0, 400)}`,
    `  ${f.request.method} ${f.request.path.slice(0, 500)}`,
    ...Object.entries(f.request.headers).map(([k, v]) => `  ${k}: ${v.slice(0, 200)}`),
    ...(body ? [`  body (${f.request.body!.length} bytes): ${body.slice(0, 800)}`] : []),
    ...(f.file ? [`  saved: ${f.file} (replay: npm run fuzz -- --replay ${f.file})`] : []),
  ].join('\n');
}
