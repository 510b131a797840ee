/**
 * $export kick-off — FHIR Bulk Data Access 2.0 (https://hl7.org/fhir/uv/bulkdata/export.html): system level
 * (`[base]/$export`), all patients (`[base]/Patient/$export`) and a group (`[base]/Group/[id]/$export`), by GET
 * (query parameters) or POST (a Parameters body). Validates everything it can up front — a bad `_type`,
 * `_typeFilter`, `_since` or `_outputFormat` is a 400 here, not a failed job later — then queues the job
 * (jobs/export.ts) and answers 202 with the status URL (operations/bulk.ts serves status, files and DELETE).
 *
 * Parameters: `_outputFormat` (application/fhir+ndjson; application/ndjson and ndjson accepted), `_since`,
 * `_type` (comma-separated, repeatable), `_typeFilter` (`Type?criteria`, repeatable; several for one type are
 * OR-ed; the criteria are whatever the search engine supports, anything else is a 400), and on POST `patient`
 * (patient and group level). `_elements`, `includeAssociatedData` and anything else are refused (400) unless
 * `Prefer: handling=lenient`, which ignores them with a warning.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { isResourceType } from '../../fhir/definitions';
import { parseDateRange } from '../../fhir/datetime';
import { isJsonObject } from '../../fhir/json';
import { badRequest, issue, notFound, type Issue } from '../../fhir/outcome';
import { parseRelativeReference } from '../../fhir/references';
import type { ExportParams } from '../../jobs/export';
import { patientCompartmentTypes } from '../../repository/export';
import { requirePermission } from '../../repository/search/compile/access';
import { callerOf } from '../caller';
import type { RestContext } from '../context';
import { acceptJob, parameterValue, parametersBody, requireRespondAsync } from './bulk-kickoff';

const NDJSON_FORMATS = new Set(['application/fhir+ndjson', 'application/ndjson', 'ndjson']);
const IGNORED = new Set(['_format', '_pretty']);
const SUPPORTED = new Set(['_outputFormat', '_since', '_type', '_typeFilter', 'patient']);

/** Kick-off parameters as name → values, from the query string and (POST) the Parameters body. */
function collect(req: FastifyRequest, baseUrl: string): { values: Map<string, string[]>; patients: string[] } {
  const values = new Map<string, string[]>();
  const add = (name: string, value: string): void => {
    values.set(name, [...(values.get(name) ?? []), value]);
  };
  const patients: string[] = [];
  const addPatient = (reference: unknown): void => {
    const ref = typeof reference === 'string' ? parseRelativeReference(reference, baseUrl) : undefined;
    if (ref?.targetType !== 'Patient') throw badRequest(`$export patient parameters must be references to Patient resources`, 'patient');
    patients.push(ref.targetId);
  };
  const q = req.url.indexOf('?');
  if (q >= 0) {
    for (const [k, v] of new URLSearchParams(req.url.slice(q + 1))) {
      if (k === 'patient') for (const r of v.split(',')) addPatient(r.trim());
      add(k, v);
    }
  }
  if (req.method === 'POST') {
    for (const p of parametersBody(req)) {
      const name = typeof p.name === 'string' ? p.name : '';
      const value = parameterValue(p);
      if (name === 'patient') {
        addPatient(isJsonObject(value) ? value.reference : undefined);
        add('patient', 'reference');
      } else if (typeof value === 'string') {
        add(name, value);
      } else {
        add(name, value === undefined ? '' : String(value));
      }
    }
  }
  return { values, patients };
}

/** `_typeFilter` values: `Type?query`, several per value separated by commas that start a new `Type?`. */
function typeFilters(values: string[]): { type: string; query: string }[] {
  return values
    .flatMap((v) => v.split(/,(?=[A-Z][A-Za-z]*\?)/))
    .map((f) => {
      const m = /^([A-Z][A-Za-z]*)\?(.+)$/.exec(f.trim());
      if (!m) throw badRequest(`_typeFilter '${f}' is not of the form [type]?[search parameters]`, '_typeFilter');
      if (!isResourceType(m[1])) throw badRequest(`_typeFilter '${f}' names an unknown resource type '${m[1]}'`, '_typeFilter');
      return { type: m[1], query: m[2] };
    });
}

export async function exportOperation(ctx: RestContext, req: FastifyRequest, reply: FastifyReply, type?: string, id?: string): Promise<FastifyReply> {
  if (type && !id && type !== 'Patient') throw notFound(`$export is defined at type level on Patient only, not on ${type}`);
  if (id && type !== 'Group') throw notFound(`$export is defined on Group instances only, not on ${type} instances`);
  requireRespondAsync(req, '$export');
  const lenient = req.fhir.prefer.lenient;
  const notes: Issue[] = [];
  const { values, patients } = collect(req, ctx.config.baseUrl);
  const one = (name: string): string | undefined => {
    const v = values.get(name);
    if (v && v.length > 1) throw badRequest(`$export takes at most one ${name}`, name);
    return v?.[0];
  };

  for (const name of values.keys()) {
    if (SUPPORTED.has(name) || IGNORED.has(name)) continue;
    if (!lenient) throw badRequest(`$export parameter '${name}' is not supported (send Prefer: handling=lenient to have it ignored)`, name);
    notes.push(issue('warning', 'not-supported', `$export parameter '${name}' is not supported and was ignored`));
  }

  const format = one('_outputFormat');
  if (format !== undefined && !NDJSON_FORMATS.has(format.trim().toLowerCase())) {
    throw badRequest(`_outputFormat '${format}' is not supported: this server exports application/fhir+ndjson`, '_outputFormat');
  }

  const sinceRaw = one('_since');
  const since = sinceRaw !== undefined ? parseDateRange(sinceRaw, ctx.config.timeZone, '_since').low : undefined;

  const level: ExportParams['level'] = id ? 'group' : type ? 'patient' : 'system';
  const inScope = level === 'system' ? undefined : new Set(patientCompartmentTypes());
  let types: string[] | undefined;
  const typeValues = values.get('_type');
  if (typeValues) {
    types = [];
    for (const t of typeValues.flatMap((v) => v.split(',')).map((s) => s.trim())) {
      const problem = !isResourceType(t)
        ? `_type '${t}' is not a resource type`
        : inScope && !inScope.has(t)
          ? `_type '${t}' is not in the Patient compartment, so a ${level}-level export has none`
          : undefined;
      if (!problem) types.push(t);
      else if (lenient) notes.push(issue('warning', 'not-supported', `${problem}; ignored`));
      else throw badRequest(problem, '_type');
    }
    if (types.length === 0) throw badRequest('_type names no resource type this export can include', '_type');
  }

  const filters: Record<string, string[]> = {};
  for (const f of typeFilters(values.get('_typeFilter') ?? [])) {
    if (types && !types.includes(f.type)) throw badRequest(`_typeFilter for ${f.type}, which _type does not include`, '_typeFilter');
    if (inScope && !inScope.has(f.type)) throw badRequest(`_typeFilter for ${f.type}, which is not in the Patient compartment`, '_typeFilter');
    // parsed and value sets expanded now: a filter the job could not run is a 400 now, not a failed job
    const criteria = await ctx.repo.criteria(f.type, new URLSearchParams(f.query), '_typeFilter');
    if (criteria.length === 0) throw badRequest(`_typeFilter '${f.type}?${f.query}' has no criteria`, '_typeFilter');
    (filters[f.type] ??= []).push(f.query);
  }

  if (patients.length && level === 'system') throw badRequest('The patient parameter applies to Patient- and Group-level exports only', 'patient');
  const caller = callerOf(req);
  // an export is a search of each type it writes: refused now (403) when the token may search none of them
  if (types) for (const t of types) requirePermission(caller.access, 's', t);
  else requirePermission(caller.access, 's');
  if (id) await ctx.repo.read(caller, 'Group', id); // 404/410 now rather than a failed job later

  const params: ExportParams = { level, types, since, typeFilters: filters };
  // the job reads what the kick-off's caller may see, no more
  if (caller.access) params.access = caller.access;
  if (id) params.groupId = id;
  if (patients.length) params.patients = [...new Set(patients)];
  return acceptJob(ctx, req, reply, 'export', params, notes);
}
