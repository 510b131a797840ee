/**
 * The export job (Bulk Data Access 2.0, https://hl7.org/fhir/uv/bulkdata/export.html): one NDJSON file per
 * resource type under `<dataDir>/bulk/jobs/<job id>/`, streamed from the repository's export reads in batches
 * (repository/export.ts: what is selected, and how), so memory stays bounded whatever the size of the export.
 */
import fs from 'node:fs';
import path from 'node:path';
import { notFound } from '../fhir/outcome';
import { parseStoredJson, isJsonObject, resourceTypeFirst } from '../fhir/json';
import { parseRelativeReference } from '../fhir/references';
import { SYSTEM_CALLER, type Caller } from '../repository/caller';
import { patientCompartmentTypes, type ExportSelection, type PatientScope } from '../repository/export';
import type { AccessRestriction } from '../repository/search/compile/access';
import { NdjsonWriter, jobDir, removeDir } from './files';
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
  /** What the kick-off's caller may see (absent: everything); the job reads no more. */
  access?: AccessRestriction;
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

const PROGRESS_EVERY_MS = 1000;

/** Thrown inside a job run that may not go on: DELETE cancelled the job, or a newer run of it took over. */
export class JobStopped extends Error {}

/** The patients of a Group export: its active Patient members (Group.member.entity). */
async function groupPatients(ctx: JobContext, caller: Caller, groupId: string): Promise<string[]> {
  const group = await ctx.repo.read(caller, 'Group', groupId).catch(() => {
    throw notFound(`Group/${groupId} does not exist (any more)`);
  });
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
  const present = new Set(await ctx.repo.presentTypes());
  let types = params.types ?? (params.level === 'system' ? [...present] : patientCompartmentTypes());
  types = types.filter((t) => present.has(t));
  return [...new Set(types)].sort();
}

export async function runExport(ctx: JobContext, job: BulkJob<ExportParams>, signal: AbortSignal): Promise<ExportManifest> {
  const params = job.params;
  const dir = jobDir(ctx.config.dataDir, job.id);
  await removeDir(dir); // a retried job starts over
  await fs.promises.mkdir(dir, { recursive: true });

  const caller: Caller = params.access ? { ...SYSTEM_CALLER, access: params.access } : SYSTEM_CALLER;
  let horizon = job.transactionTime;
  if (!horizon) {
    horizon = await ctx.repo.horizon();
    await ctx.store.setTransactionTime(job.id, horizon);
  }

  let patients: PatientScope | undefined;
  if (params.level !== 'system') {
    let ids = params.level === 'group' ? await groupPatients(ctx, caller, params.groupId!) : undefined;
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

  const session = await ctx.repo.openExport(caller);
  try {
    for (const [i, type] of types.entries()) {
      const filters = [];
      for (const q of params.typeFilters[type] ?? []) filters.push(await ctx.repo.criteria(type, new URLSearchParams(q), '_typeFilter'));
      const label = `${type} (type ${i + 1} of ${types.length})`;
      const selection: ExportSelection = { resourceType: type, horizon, since: params.since, filters, patients };
      const written = await toFile(
        path.join(dir, `${type}.ndjson`),
        (batch) => session.resources(selection, (contents) => batch(contents.map(resourceTypeFirst))),
        (n) => checkpoint(`${label}: ${n} resources written`),
      );
      if (written > 0) output.push({ type, url: fileUrl(`${type}.ndjson`), count: written });
      if (params.since !== undefined) {
        const file = `${type}.deleted.ndjson`;
        const since = params.since;
        const n = await toFile(
          path.join(dir, file),
          (batch) => session.deletions({ ...selection, since }, (ids) => batch(ids.map((id) => deletionBundle(type, id)))),
          (k) => checkpoint(`${label}: ${k} deletions written`),
        );
        if (n > 0) deleted.push({ type, url: fileUrl(file), count: n });
      }
      await checkpoint(`${label} done`, true);
    }
  } finally {
    await session.close();
  }
  const manifest: ExportManifest = {
    transactionTime: horizon,
    request: job.request,
    requiresAccessToken: ctx.config.auth === 'smart',
    output,
    error: [],
  };
  if (params.since !== undefined) manifest.deleted = deleted;
  return manifest;
}

/** One line of a `deleted` file: a transaction Bundle deleting the resource. */
function deletionBundle(type: string, id: string): string {
  return JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method: 'DELETE', url: `${type}/${id}` } }] });
}

/** Appends the lines `read` produces, batch by batch, to `file`; returns their number (an empty file is removed). */
async function toFile(
  file: string,
  read: (batch: (lines: string[]) => Promise<void>) => Promise<void>,
  progress: (written: number) => Promise<void>,
): Promise<number> {
  const writer = new NdjsonWriter(file);
  try {
    await read(async (lines) => {
      await writer.write(lines);
      await progress(writer.lines);
    });
  } finally {
    await writer.close();
  }
  if (writer.lines === 0) await fs.promises.rm(file, { force: true });
  return writer.lines;
}
