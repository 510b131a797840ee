/**
 * The import job: NDJSON files (one resource type each) read line by line and written through the write engine
 * (repository/write-engine.ts) with the access of the caller who kicked it off: 500 lines at a time become one plan of updates by id (resources keep
 * their ids), validated as an update by id would be and written in one statement. A batch the plan refuses is
 * redone resource by resource, so a bad line fails alone. An identical resource makes no new version, so
 * re-running an import changes nothing.
 *
 * Referential integrity is deferred to the end of the job: files arrive in any order (Observations before the
 * Patients they point to), so references are not checked per batch. Once every file is written, each reference of
 * each imported resource is checked against the database, and a dangling one is reported as an error of the
 * file and line it came from. The resources stay imported (as with AROGYA_REFERENTIAL_INTEGRITY=off): import the
 * missing targets and the references resolve.
 *
 * Per file, the manifest reports how many resources were imported and links an OperationOutcome NDJSON file with
 * one outcome per rejected line (its line number in the diagnostics).
 */
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { databaseFailure } from '../database/errors';
import { isJsonObject, parseFhirJson, toJson } from '../fhir/json';
import { OperationOutcomeError, issue, type Issue } from '../fhir/outcome';
import type { ImportItem } from '../repository/bulk-import';
import { SYSTEM_CALLER, type Actor, type Caller } from '../repository/caller';
import { unresolvedWhy, type AccessRestriction } from '../repository/search/compile/access';
import { JobStopped } from './export';
import { NdjsonWriter, jobDir, removeDir } from './files';
import { openSource, resolveSource } from './sources';
import type { JobContext } from './context';
import type { BulkJob } from './store';

export interface ImportParams {
  inputs: { type: string; url: string }[];
  /** Who kicked the import off and what they may write (absent: the system): the job writes with that access. */
  actor?: Actor;
  access?: AccessRestriction;
}

export interface ImportFileResult {
  type: string;
  inputUrl: string;
  count: number;
  url?: string;
}

export interface ImportManifest {
  transactionTime: string;
  request: string;
  requiresAccessToken: boolean;
  output: ImportFileResult[];
  error: ImportFileResult[];
}

const BATCH = 500;
const PROGRESS_EVERY_MS = 1000;

function lineOutcome(line: number, issues: Issue[]): string {
  return toJson({ resourceType: 'OperationOutcome', issue: issues.map((i) => ({ ...i, diagnostics: `Line ${line}: ${i.diagnostics}` })) });
}

function issuesOf(e: unknown): Issue[] {
  if (e instanceof OperationOutcomeError) return e.issues;
  // Never the engine's message (it may quote the row): the server log has the details, by job id.
  return [
    issue(
      'error',
      'exception',
      databaseFailure(e) ? 'The database was unavailable or too slow for this resource' : 'This resource could not be imported (an internal error)',
    ),
  ];
}

export async function runImport(ctx: JobContext, job: BulkJob<ImportParams>, signal: AbortSignal): Promise<ImportManifest> {
  const started = new Date().toISOString();
  const dir = jobDir(ctx.config.dataDir, job.id);
  await removeDir(dir); // a retried job starts over
  await fs.promises.mkdir(dir, { recursive: true });
  await ctx.repo.forgetImport(job.id);
  const deferIntegrity = ctx.repo.options.referentialIntegrity;
  const inputs = job.params.inputs;
  // the kick-off's caller: its access applies to every resource written (the write engine checks each row)
  const caller: Caller =
    job.params.access || job.params.actor
      ? { actor: job.params.actor ?? SYSTEM_CALLER.actor, access: job.params.access, triggers: false }
      : SYSTEM_CALLER;

  const errorWriters = inputs.map((input, i) => new NdjsonWriter(path.join(dir, `input-${i + 1}-${input.type}.errors.ndjson`)));
  const imported = inputs.map(() => 0);
  let lastProgress = 0;
  const checkpoint = async (text: string, force = false): Promise<void> => {
    if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('aborted');
    if (!force && Date.now() - lastProgress < PROGRESS_EVERY_MS) return;
    lastProgress = Date.now();
    if (!(await ctx.store.progress(job, text))) throw new JobStopped(`import ${job.id} was cancelled or superseded`);
  };

  const record = (input: number) => (deferIntegrity ? { jobId: job.id, input } : undefined);

  /** One statement for the batch; if it is refused, resource by resource, so one bad line fails alone. */
  const flush = async (input: number, items: ImportItem[]): Promise<void> => {
    if (items.length === 0) return;
    try {
      await ctx.repo.importBatch(caller, items, record(input));
      imported[input] += items.length;
      return;
    } catch (e) {
      if (!(e instanceof OperationOutcomeError) && (e as { code?: string }).code !== '23505') throw e;
    }
    for (const item of items) {
      try {
        await ctx.repo.importBatch(caller, [item], record(input));
        imported[input] += 1;
      } catch (e) {
        if (!(e instanceof OperationOutcomeError)) throw e;
        await errorWriters[input].write([lineOutcome(item.line, e.issues)]);
      }
    }
  };

  try {
    for (const [i, input] of inputs.entries()) {
      const source = await openSource(resolveSource(ctx.config, input.url), signal);
      const lines = readline.createInterface({ input: source, crlfDelay: Infinity });
      let batch: ImportItem[] = [];
      const inBatch = new Set<string>();
      let lineNo = 0;
      try {
        for await (const text of lines) {
          lineNo++;
          if (text.trim() === '') continue;
          try {
            const resource = parseFhirJson(text);
            if (!isJsonObject(resource))
              throw new OperationOutcomeError(400, [issue('error', 'structure', 'The line is not a JSON object (a FHIR resource)')]);
            if (resource.resourceType !== input.type) {
              throw new OperationOutcomeError(400, [
                issue('error', 'invalid', `The resource is a ${String(resource.resourceType)}, but this input holds ${input.type} resources`),
              ]);
            }
            if (typeof resource.id !== 'string') {
              throw new OperationOutcomeError(400, [
                issue('error', 'required', 'The resource has no id: imported resources keep their ids', `${input.type}.id`),
              ]);
            }
            const key = `${input.type}/${resource.id}`;
            if (inBatch.has(key)) {
              // The same resource twice: the second becomes the next version, in the next statement.
              await flush(i, batch);
              batch = [];
              inBatch.clear();
            }
            inBatch.add(key);
            batch.push({ line: lineNo, resourceType: input.type, id: resource.id, resource });
          } catch (e) {
            if (!(e instanceof OperationOutcomeError)) throw e;
            await errorWriters[i].write([lineOutcome(lineNo, issuesOf(e))]);
          }
          if (batch.length >= BATCH) {
            await flush(i, batch);
            batch = [];
            inBatch.clear();
          }
          await checkpoint(
            `input ${i + 1} of ${inputs.length} (${input.type}): ${lineNo} lines read, ${imported[i]} imported, ${errorWriters[i].lines} rejected`,
          );
        }
        await flush(i, batch);
      } finally {
        lines.close();
        source.destroy();
      }
      await checkpoint(`input ${i + 1} of ${inputs.length} (${input.type}) done: ${imported[i]} imported, ${errorWriters[i].lines} rejected`, true);
    }

    if (deferIntegrity) {
      await checkpoint('checking references', true);
      await reportDanglingReferences(ctx, caller, job.id, errorWriters, checkpoint);
    }
  } finally {
    for (const w of errorWriters) await w.close().catch(() => undefined);
    await ctx.repo.forgetImport(job.id).catch(() => undefined);
  }

  const output: ImportFileResult[] = inputs.map((input, i) => ({ type: input.type, inputUrl: input.url, count: imported[i] }));
  const error: ImportFileResult[] = [];
  for (const [i, input] of inputs.entries()) {
    const w = errorWriters[i];
    if (w.lines > 0) {
      error.push({
        type: 'OperationOutcome',
        inputUrl: input.url,
        url: `${ctx.config.baseUrl}/_bulk/jobs/${job.id}/files/${path.basename(w.file)}`,
        count: w.lines,
      });
    } else {
      await fs.promises.rm(w.file, { force: true });
    }
  }
  return { transactionTime: started, request: job.request, requiresAccessToken: ctx.config.auth === 'smart', output, error };
}

/** Every reference of the imported resources that names no current resource, as an error of its file and line. */
async function reportDanglingReferences(
  ctx: JobContext,
  caller: Caller,
  jobId: string,
  errorWriters: NdjsonWriter[],
  checkpoint: (text: string) => Promise<void>,
): Promise<void> {
  const why = unresolvedWhy(caller.access);
  await ctx.repo.danglingImportReferences(caller, jobId, async (refs) => {
    for (const r of refs) {
      await errorWriters[r.input].write([
        lineOutcome(r.line, [
          issue(
            'error',
            'not-found',
            `${r.resourceType}/${r.id} was imported, but its reference to ${r.targetType}/${r.targetId} does not resolve: ${why}`,
          ),
        ]),
      ]);
    }
    await checkpoint('checking references');
  });
}
