/**
 * The export job (Bulk Data Access 2.0, https://hl7.org/fhir/uv/bulkdata/export.html): one NDJSON file per
 * resource type under `<dataDir>/bulk/jobs/<job id>/`, streamed from PostgreSQL through a server-side cursor in
 * batches, so memory stays bounded whatever the size of the export (see export-query.ts for what is selected).
 */
import Cursor from 'pg-cursor';
import fs from 'node:fs';
import path from 'node:path';
import { notFound } from '../fhir/outcome';
import { parseStoredJson, isJsonObject, resourceTypeFirst } from '../fhir/json';
import { parseRelativeReference } from '../fhir/references';
import { parseCriteria } from '../fhir/search/parse';
import { resolveTerminology } from '../repository/search/terminology';
import { READ_ONLY_APPLICATION_NAME, readHorizon } from '../repository/history';
import { PRESENT_TYPES_SQL, deletedStatement, exportStatement, patientCompartmentTypes, type PatientScope } from './export-query';
import { NdjsonWriter, jobDir, removeDir } from './files';
import type { PoolClient } from '../database/pool';
import type { JobContext } from './context';
import type { BulkJob } from './store';

export interface ExportParams {
  level: 'system' | 'patient' | 'group';
  groupId?: string;
  /** `_type`; undefined: every type in scope */
  types?: string[];
  /** `_since` as an instant (UTC ISO) */
  since?: string;
  /** `_typeFilter` queries (the part after `?`) per type; several for one type are OR-ed. */
  typeFilters: Record<string, string[]>;
  /** POST `patient` parameter: patient ids the export is restricted to (patient/group level). */
  patients?: string[];
}

export interface OutputFile {
  type: string;
  url: string;
  count: number;
}

export interface ExportManifest {
  transactionTime: string;
  request: string;
  requiresAccessToken: boolean;
  output: OutputFile[];
  /** With `_since`: per type, a file of transaction Bundles, each deleting one resource deleted since then. */
  deleted?: OutputFile[];
  error: OutputFile[];
}

const BATCH = 1000;
const PROGRESS_EVERY_MS = 1000;

/** Thrown inside a job run that may not go on: DELETE cancelled the job, or a newer run of it took over. */
export class JobStopped extends Error {}

/** The patients of a Group export: its active Patient members (Group.member.entity). */
async function groupPatients(ctx: JobContext, groupId: string): Promise<string[]> {
  let group;
  try {
    group = await ctx.repo.read('Group', groupId);
  } catch {
    throw notFound(`Group/${groupId} does not exist (any more)`);
  }
  const body = parseStoredJson(group.content!);
  const ids = new Set<string>();
  for (const m of Array.isArray(body.member) ? body.member : []) {
    if (!isJsonObject(m) || m.inactive === true || !isJsonObject(m.entity) || typeof m.entity.reference !== 'string') continue;
    const ref = parseRelativeReference(m.entity.reference, ctx.config.baseUrl);
    if (ref?.targetType === 'Patient') ids.add(ref.targetId);
  }
  return [...ids];
}

async function typesToExport(ctx: JobContext, params: ExportParams): Promise<string[]> {
  const present = new Set((await ctx.pool.query<{ rt: string }>(PRESENT_TYPES_SQL)).rows.map((r) => r.rt));
  let types = params.types ?? (params.level === 'system' ? [...present] : patientCompartmentTypes());
  types = types.filter((t) => present.has(t));
  return [...new Set(types)].sort();
}

export async function runExport(ctx: JobContext, job: BulkJob<ExportParams>, signal: AbortSignal): Promise<ExportManifest> {
  const params = job.params;
  const dir = jobDir(ctx.config.dataDir, job.id);
  await removeDir(dir); // a retried job starts over
  await fs.promises.mkdir(dir, { recursive: true });

  let horizon = job.transactionTime;
  if (!horizon) {
    horizon = await readHorizon(ctx.pool);
    await ctx.store.setTransactionTime(job.id, horizon);
  }

  let patients: PatientScope | undefined;
  if (params.level !== 'system') {
    let ids = params.level === 'group' ? await groupPatients(ctx, params.groupId!) : undefined;
    if (params.patients) ids = ids ? ids.filter((id) => params.patients!.includes(id)) : params.patients;
    patients = ids ? { kind: 'ids', ids } : { kind: 'all' };
  }

  const types = await typesToExport(ctx, params);
  const output: OutputFile[] = [];
  const deleted: OutputFile[] = [];
  const fileUrl = (name: string): string => `${ctx.config.baseUrl}/_bulk/jobs/${job.id}/files/${name}`;
  let lastProgress = 0;
  const checkpoint = async (text: string, force = false): Promise<void> => {
    if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('aborted');
    if (!force && Date.now() - lastProgress < PROGRESS_EVERY_MS) return;
    lastProgress = Date.now();
    if (!(await ctx.store.progress(job, text))) throw new JobStopped(`export ${job.id} was cancelled or superseded`);
  };

  const client = await ctx.pool.connect();
  let broken: Error | undefined;
  try {
    // Read-only and marked so: its long cursor transactions never hold back the commit horizon (history.ts).
    await client.query(`SET application_name = '${READ_ONLY_APPLICATION_NAME}'`);
    for (const [i, type] of types.entries()) {
      const filters = (params.typeFilters[type] ?? []).map((q) =>
        parseCriteria(type, new URLSearchParams(q), '_typeFilter', ctx.config.timeZone, ctx.config.baseUrl),
      );
      for (const criteria of filters) await resolveTerminology(ctx.pool, criteria); // :in, :below … become code lists
      const label = `${type} (type ${i + 1} of ${types.length})`;
      const selection = { resourceType: type, horizon, since: params.since, filters, patients };
      const written = await streamToFile(client, exportStatement(selection), path.join(dir, `${type}.ndjson`), (r) => resourceTypeFirst(r.content), (n) =>
        checkpoint(`${label}: ${n} resources written`),
      );
      if (written > 0) output.push({ type, url: fileUrl(`${type}.ndjson`), count: written });
      if (params.since !== undefined) {
        const file = `${type}.deleted.ndjson`;
        const stmt = deletedStatement({ ...selection, since: params.since });
        const n = await streamToFile(client, stmt, path.join(dir, file), (r) => deletionBundle(type, r.id), (k) =>
          checkpoint(`${label}: ${k} deletions written`),
        );
        if (n > 0) deleted.push({ type, url: fileUrl(file), count: n });
      }
      await checkpoint(`${label} done`, true);
    }
  } catch (e) {
    broken = e as Error;
    throw e;
  } finally {
    if (!broken) await client.query('RESET application_name').catch((e: Error) => (broken = e));
    client.release(broken); // a connection that failed mid-cursor is discarded, not reused
  }
  const manifest: ExportManifest = { transactionTime: horizon, request: job.request, requiresAccessToken: false, output, error: [] };
  if (params.since !== undefined) manifest.deleted = deleted;
  return manifest;
}

/** One line of a `deleted` file: a transaction Bundle deleting the resource. */
function deletionBundle(type: string, id: string): string {
  return JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method: 'DELETE', url: `${type}/${id}` } }] });
}

/**
 * Runs `stmt` through a server-side cursor in a READ ONLY transaction and appends one line per row to `file`, a
 * batch at a time; returns the number of lines (an empty file is removed).
 */
async function streamToFile<R extends Record<string, string>>(
  client: PoolClient,
  stmt: { text: string; values: unknown[] },
  file: string,
  line: (row: R) => string,
  progress: (written: number) => Promise<void>,
): Promise<number> {
  const writer = new NdjsonWriter(file);
  await client.query('BEGIN READ ONLY');
  const cursor = client.query(new Cursor<R>(stmt.text, stmt.values));
  try {
    for (;;) {
      const rows = await cursor.read(BATCH);
      if (rows.length === 0) break;
      await writer.write(rows.map(line));
      await progress(writer.lines);
    }
  } finally {
    await cursor.close().catch(() => undefined);
    await client.query('COMMIT').catch(() => undefined);
    await writer.close();
  }
  if (writer.lines === 0) await fs.promises.rm(file, { force: true });
  return writer.lines;
}
