/**
 * `arogya import <files or folders>` (DESIGN.md §1): loads FHIR Bundles (JSON) and NDJSON files straight into the
 * database through the TransactionProcessor — the same set-based path as `POST /fhir` — with a progress bar on
 * stderr and a summary on stdout. No server needs to run.
 *
 * What each file becomes:
 * - a `transaction` Bundle: one transaction (all or nothing); a `batch` Bundle: a batch (entry by entry);
 * - a `collection`/`searchset`/other Bundle, or a single resource: a batch of its resources — an update by id
 *   (`PUT [type]/[id]`) when the resource has an id, else a create;
 * - NDJSON (`.ndjson`): one resource per line, as above, 500 lines per batch. A line whose reference targets are
 *   not loaded yet (another file of the same folder, a later line) is retried after the folder's other files.
 *
 * Order and parallelism — safe by default:
 * - arguments are processed in the order given, one after the other (a later file may depend on an earlier one);
 * - inside a folder (searched recursively): first Synthea's infrastructure bundles (`hospitalInformation*`, then
 *   `practitionerInformation*`) one at a time, then NDJSON files one at a time (organisations, locations,
 *   practitioners, medications and patients first), then the other JSON bundles CONCURRENCY (default 4) at a time —
 *   patient bundles depend on the infrastructure, never on each other. Concurrent bundles that share conditional
 *   creates are serialised by the repository's advisory locks, so nothing is duplicated.
 * A failed file is reported with its reason and the others go on; the exit code is 1 if any file or entry failed.
 */
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { parseBundleRequest } from '../fhir/bundle-request';
import { isJsonObject, parseFhirJson, type JsonObject, type JsonValue } from '../fhir/json';
import { OperationOutcomeError } from '../fhir/outcome';
import type { Caller } from '../repository/caller';
import type { EntryResult, TransactionProcessor } from '../repository/transaction';
import { Progress, formatDuration } from './progress';

export const DEFAULT_CONCURRENCY = 4;
const NDJSON_CHUNK = 500;
const MAX_LISTED = 5;

/** NDJSON load order inside a folder: what others reference first. */
const NDJSON_RANK = [
  'Organization',
  'Location',
  'Practitioner',
  'PractitionerRole',
  'HealthcareService',
  'Endpoint',
  'Medication',
  'Substance',
  'Device',
  'Patient',
  'RelatedPerson',
  'Group',
  'Encounter',
];

export interface ImportOptions {
  concurrency: number;
  /** Summary output (default stdout); progress goes to `progress` (default stderr). */
  out?: NodeJS.WritableStream;
  progress?: NodeJS.WriteStream;
}

type Effect = EntryResult['effect'];

export interface FileReport {
  file: string;
  kind: string;
  resources: number;
  effects: Partial<Record<Effect, number>>;
  /** Entries (or NDJSON lines) that failed, with why. */
  failures: { where: string; reason: string }[];
  /** The whole file failed (a transaction rolled back, unreadable JSON, …). */
  error?: string;
  seconds: number;
}

interface Stage {
  files: string[];
  parallel: boolean;
}

function listFiles(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .flatMap((d) => {
      const p = path.join(dir, d.name);
      if (d.isDirectory()) return listFiles(p);
      return /\.(json|ndjson)$/i.test(d.name) ? [p] : [];
    });
}

function infrastructureRank(file: string): number {
  const name = path.basename(file);
  if (/^hospitalInformation/.test(name)) return 0;
  if (/^practitionerInformation/.test(name)) return 1;
  return -1;
}

function ndjsonRank(file: string): number {
  const type = path.basename(file).split(/[._-]/)[0];
  const i = NDJSON_RANK.indexOf(type);
  return i < 0 ? NDJSON_RANK.length : i;
}

/** Arguments → stages run one after the other (see the module comment). */
export function planStages(paths: string[]): Stage[] {
  const stages: Stage[] = [];
  for (const p of paths) {
    const stat = fs.statSync(p);
    if (!stat.isDirectory()) {
      stages.push({ files: [p], parallel: false });
      continue;
    }
    const files = listFiles(p);
    const infra = files.filter((f) => infrastructureRank(f) >= 0).sort((a, b) => infrastructureRank(a) - infrastructureRank(b));
    const ndjson = files.filter((f) => /\.ndjson$/i.test(f)).sort((a, b) => ndjsonRank(a) - ndjsonRank(b));
    const bundles = files.filter((f) => !infra.includes(f) && !ndjson.includes(f));
    if (infra.length) stages.push({ files: infra, parallel: false });
    if (ndjson.length) stages.push({ files: ndjson, parallel: false });
    if (bundles.length) stages.push({ files: bundles, parallel: true });
  }
  return stages;
}

/** A resource as a batch entry: an update by id, or a create. */
function entryFor(resource: JsonValue): JsonObject {
  const r = isJsonObject(resource) ? resource : {};
  const type = typeof r.resourceType === 'string' ? r.resourceType : '';
  return typeof r.id === 'string'
    ? { resource, request: { method: 'PUT', url: `${type}/${r.id}` } }
    : { resource, request: { method: 'POST', url: type } };
}

function reasonOf(e: unknown): string {
  if (e instanceof OperationOutcomeError) {
    const more = e.issues.length > 1 ? ` (+${e.issues.length - 1} more issues)` : '';
    return `${e.status}: ${e.issues[0]?.diagnostics ?? e.message}${more}`;
  }
  return e instanceof Error ? e.message : String(e);
}

function entryReason(r: EntryResult): string {
  return `${r.status}: ${r.outcome?.issue.map((i) => i.diagnostics).join('; ') ?? ''}`;
}

/** NDJSON lines kept for another try once the rest of the stage is loaded (their reference targets may come later). */
interface Deferred {
  file: string;
  line: number;
  resource: JsonValue;
}

export class Importer {
  readonly reports: FileReport[] = [];
  readonly progress: Progress;

  constructor(
    private readonly processor: TransactionProcessor,
    /** Who acts (the CLI: the system); every write of the import is the write engine's with this caller. */
    private readonly caller: Caller,
    private readonly baseUrl: string,
    private readonly opts: ImportOptions,
  ) {
    this.progress = new Progress(opts.progress ?? process.stderr);
  }

  /** Runs every stage; returns the exit code (0: everything loaded, 1: something failed). */
  async run(paths: string[]): Promise<number> {
    const stages = planStages(paths);
    const files = stages.flatMap((s) => s.files);
    this.progress.state.files = files.length;
    this.progress.state.totalBytes = files.reduce((n, f) => n + fs.statSync(f).size, 0);
    this.progress.update();
    for (const stage of stages) {
      const deferred: Deferred[] = [];
      const queue = [...stage.files];
      const workers = stage.parallel ? Math.max(1, this.opts.concurrency) : 1;
      await Promise.all(
        Array.from({ length: workers }, async () => {
          for (let f = queue.shift(); f; f = queue.shift()) await this.file(f, deferred);
        }),
      );
      await this.retryDeferred(deferred);
    }
    this.progress.finish();
    this.summary();
    return this.reports.some((r) => r.error || r.failures.length) ? 1 : 0;
  }

  private record(report: FileReport, results: EntryResult[], where: (i: number) => string): void {
    results.forEach((r, i) => {
      report.effects[r.effect] = (report.effects[r.effect] ?? 0) + 1;
      if (r.effect === 'failed') report.failures.push({ where: where(i), reason: entryReason(r) });
      else report.resources++;
    });
  }

  private async file(file: string, deferred: Deferred[]): Promise<void> {
    const started = Date.now();
    const size = fs.statSync(file).size;
    const report: FileReport = { file, kind: 'json', resources: 0, effects: {}, failures: [], seconds: 0 };
    // Resources (and bytes) counted while the file loads (batch passes, NDJSON chunks), settled at the end.
    let live = 0;
    let liveBytes = 0;
    const tick = (n: number, bytes = 0): void => {
      live += n;
      liveBytes += bytes;
      this.progress.state.resources += n;
      this.progress.state.doneBytes += bytes;
      this.progress.update();
    };
    try {
      if (/\.ndjson$/i.test(file)) await this.ndjson(file, report, deferred, tick);
      else await this.json(file, report, tick);
    } catch (e) {
      report.error = reasonOf(e);
    }
    report.seconds = (Date.now() - started) / 1000;
    this.reports.push(report);
    const s = this.progress.state;
    s.resources += report.resources - live;
    s.doneBytes += size - liveBytes;
    s.filesDone++;
    if (report.error || report.failures.length) s.failed++;
    this.progress.message(this.fileLine(report));
    this.progress.update();
  }

  private fileLine(r: FileReport): string {
    const name = path.basename(r.file);
    if (r.error) return `✗ ${name} (${r.kind}): ${r.error}`;
    const effects = Object.entries(r.effects)
      .filter(([k]) => k !== 'failed')
      .map(([k, v]) => `${v} ${k}`)
      .join(', ');
    const failed = r.failures.length ? `; ${r.failures.length} failed, first: ${r.failures[0].where}: ${r.failures[0].reason}` : '';
    return `${r.failures.length ? '!' : '✓'} ${name} (${r.kind}): ${r.resources} resources (${effects || 'none'}) in ${r.seconds.toFixed(2)} s${failed}`;
  }

  private async json(file: string, report: FileReport, tick: (n: number, bytes?: number) => void): Promise<void> {
    const text = fs.readFileSync(file, 'utf8');
    const value = parseFhirJson(text);
    if (!isJsonObject(value)) throw new Error('not a FHIR resource (a JSON object)');
    const entries = Array.isArray(value.entry) ? value.entry.length : 1;
    const size = Buffer.byteLength(text);
    let progressed = 0;
    // A batch reports each pass: the bar moves by the share of the file's entries answered.
    const progress = (answered: number): void => {
      tick(answered - progressed, Math.floor((size * (answered - progressed)) / Math.max(entries, 1)));
      progressed = answered;
    };
    if (value.resourceType === 'Bundle' && (value.type === 'transaction' || value.type === 'batch')) {
      report.kind = value.type;
      const { results } = await this.processor.process(this.caller, value, { progress });
      this.record(report, results, (i) => `entry ${i}`);
    } else {
      // A collection, searchset, … or a single resource: its resources as a batch of updates by id / creates.
      const resources =
        value.resourceType === 'Bundle'
          ? (Array.isArray(value.entry) ? value.entry : []).flatMap((e) => (isJsonObject(e) && e.resource !== undefined ? [e.resource] : []))
          : [value];
      report.kind = value.resourceType === 'Bundle' ? `${String(value.type)} as batch` : 'resource';
      const { entries } = parseBundleRequest({ resourceType: 'Bundle', type: 'batch', entry: resources.map(entryFor) }, this.baseUrl);
      this.record(report, await this.processor.batch(this.caller, entries, { progress }), (i) => `entry ${i}`);
    }
  }

  private async ndjson(file: string, report: FileReport, deferred: Deferred[], tick: (n: number, bytes?: number) => void): Promise<void> {
    report.kind = 'ndjson';
    const lines = readline.createInterface({ input: fs.createReadStream(file, 'utf8'), crlfDelay: Infinity });
    let chunk: { line: number; text: string }[] = [];
    let lineNo = 0;
    const flush = async (): Promise<void> => {
      if (chunk.length === 0) return;
      const batch = chunk;
      chunk = [];
      const parsed: { line: number; resource?: JsonValue; error?: string }[] = batch.map((l) => {
        try {
          return { line: l.line, resource: parseFhirJson(l.text) };
        } catch (e) {
          return { line: l.line, error: reasonOf(e) };
        }
      });
      for (const p of parsed) if (p.error) report.failures.push({ where: `line ${p.line}`, reason: p.error });
      const ok = parsed.filter((p) => !p.error);
      const { entries } = parseBundleRequest({ resourceType: 'Bundle', type: 'batch', entry: ok.map((p) => entryFor(p.resource!)) }, this.baseUrl);
      const results = await this.processor.batch(this.caller, entries);
      results.forEach((r, i) => {
        if (r.effect === 'failed' && r.status.startsWith('422') && r.outcome?.issue.some((x) => x.code === 'not-found')) {
          deferred.push({ file, line: ok[i].line, resource: ok[i].resource! });
          return;
        }
        report.effects[r.effect] = (report.effects[r.effect] ?? 0) + 1;
        if (r.effect === 'failed') report.failures.push({ where: `line ${ok[i].line}`, reason: entryReason(r) });
        else report.resources++;
      });
      tick(
        results.filter((r) => r.effect !== 'failed').length,
        batch.reduce((n, l) => n + Buffer.byteLength(l.text) + 1, 0),
      );
    };
    for await (const text of lines) {
      lineNo++;
      if (text.trim() === '') continue;
      chunk.push({ line: lineNo, text });
      if (chunk.length >= NDJSON_CHUNK) await flush();
    }
    await flush();
  }

  /** Deferred NDJSON lines, again and again while each round loads some; what never loads fails with its reason. */
  private async retryDeferred(deferred: Deferred[]): Promise<void> {
    let pending = deferred;
    while (pending.length) {
      const { entries } = parseBundleRequest(
        { resourceType: 'Bundle', type: 'batch', entry: pending.map((d) => entryFor(d.resource)) },
        this.baseUrl,
      );
      const results = await this.processor.batch(this.caller, entries);
      const still: Deferred[] = [];
      const last: string[] = [];
      results.forEach((r, i) => {
        const d = pending[i];
        const report = this.reports.find((x) => x.file === d.file)!;
        if (r.effect === 'failed') {
          still.push(d);
          last.push(entryReason(r));
          return;
        }
        report.effects[r.effect] = (report.effects[r.effect] ?? 0) + 1;
        report.resources++;
        this.progress.state.resources++;
      });
      if (still.length === pending.length) {
        still.forEach((d, i) => {
          this.reports.find((x) => x.file === d.file)!.failures.push({ where: `line ${d.line}`, reason: last[i] });
        });
        this.progress.state.failed += new Set(still.map((d) => d.file)).size;
        return;
      }
      pending = still;
    }
  }

  /**
   * What the run did: created (a create, or an update that made a new resource), matched (already there: a
   * conditional create's existing match, an update that changed nothing, an update of an existing resource), failed
   * (entries, and whole files such as a rolled-back transaction).
   * A re-run of bundles that POST without conditions creates everything again: `created` shows it.
   */
  private countsLine(total: Partial<Record<Effect, number>>): string {
    const n = (k: Effect): string => (total[k] ?? 0).toLocaleString('en-US');
    const matched = (total.existing ?? 0) + (total.unchanged ?? 0) + (total.updated ?? 0);
    return `  created ${n('created')} · matched ${matched.toLocaleString('en-US')} (existing ${n('existing')} · unchanged ${n('unchanged')} · updated ${n('updated')}) · deleted ${n('deleted')} · failed ${n('failed')}`;
  }

  private summary(): void {
    const out = this.opts.out ?? process.stdout;
    const seconds = this.progress.elapsedSeconds();
    const total: Partial<Record<Effect, number>> = {};
    for (const r of this.reports) for (const [k, v] of Object.entries(r.effects)) total[k as Effect] = (total[k as Effect] ?? 0) + v;
    const resources = this.reports.reduce((n, r) => n + r.resources, 0);
    const failedFiles = this.reports.filter((r) => r.error);
    const partial = this.reports.filter((r) => !r.error && r.failures.length);
    const entries = this.reports.reduce((n, r) => n + r.failures.length, 0);
    total.failed = entries + failedFiles.length; // a whole file that failed (a rolled-back transaction) counts once
    const lines = [
      `Imported ${this.reports.length - failedFiles.length} of ${this.reports.length} files in ${formatDuration(seconds)} (${seconds.toFixed(1)} s): ${resources.toLocaleString('en-US')} resources, ${Math.round(resources / Math.max(seconds, 0.001)).toLocaleString('en-US')}/s`,
      this.countsLine(total),
    ];
    if (failedFiles.length || partial.length) {
      lines.push(`  FAILED: ${failedFiles.length} file(s), ${entries} entr${entries === 1 ? 'y' : 'ies'}`);
      for (const r of failedFiles) lines.push(`  ✗ ${r.file}: ${r.error}`);
      for (const r of partial) {
        lines.push(`  ! ${r.file}: ${r.failures.length} failed`);
        for (const f of r.failures.slice(0, MAX_LISTED)) lines.push(`      ${f.where}: ${f.reason}`);
        if (r.failures.length > MAX_LISTED) lines.push(`      … and ${r.failures.length - MAX_LISTED} more`);
      }
    }
    out.write(`${lines.join('\n')}\n`);
  }
}

export const IMPORT_USAGE = `usage: arogya import [--concurrency N] <files or folders>…
  Loads FHIR Bundles (.json: transaction, batch, collection, searchset) and NDJSON files (.ndjson) into the
  database (DATABASE_URL, or the embedded one in AROGYA_DATA_DIR). Arguments load in the order given; inside a
  folder, Synthea's infrastructure bundles load first, then NDJSON files, then the other bundles N at a time
  (default ${DEFAULT_CONCURRENCY}). Exit code 1 if any file or entry failed.`;

/** Parses the command's arguments; throws a usage message on error. */
export function parseImportArgs(argv: string[]): { paths: string[]; concurrency: number } {
  const paths: string[] = [];
  let concurrency = DEFAULT_CONCURRENCY;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--concurrency' || a === '-j') {
      concurrency = Number(argv[++i]);
      if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) throw new Error(`--concurrency must be an integer from 1 to 64`);
    } else if (a.startsWith('--concurrency=')) {
      concurrency = Number(a.slice('--concurrency='.length));
      if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) throw new Error(`--concurrency must be an integer from 1 to 64`);
    } else if (a.startsWith('-')) {
      throw new Error(`unknown option ${a}`);
    } else paths.push(a);
  }
  if (paths.length === 0) throw new Error('no files or folders given');
  for (const p of paths) if (!fs.existsSync(p)) throw new Error(`${p}: no such file or folder`);
  return { paths, concurrency };
}
