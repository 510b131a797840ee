/**
 * $import kick-off — bulk NDJSON import, asynchronous like $export (`Prefer: respond-async`, 202 +
 * Content-Location of a status URL whose manifest reports each input file). The body is a Parameters resource in
 * the shape HAPI FHIR and the Microsoft FHIR server accept:
 *
 *   { "resourceType": "Parameters", "parameter": [
 *       { "name": "inputFormat", "valueCode": "application/fhir+ndjson" },
 *       { "name": "input", "part": [ { "name": "type", "valueCode": "Patient" },
 *                                    { "name": "url",  "valueUri": "http://…/fhir/_bulk/upload/<id>" } ] }, … ] }
 *
 * Inputs must come from this server's upload endpoint (`POST [base]/_bulk/upload`) or a location allowed by
 * AROGYA_IMPORT_ALLOW (jobs/sources.ts); anything else is a 400. `inputSource`, `mode` and `storageDetail` are
 * accepted and ignored. The job itself is jobs/import.ts.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { isResourceType } from '../../fhir/definitions';
import { isJsonObject } from '../../fhir/json';
import { badRequest, issue, type Issue } from '../../fhir/outcome';
import type { ImportParams } from '../../jobs/import';
import path from 'node:path';
import { uploadsDir } from '../../jobs/files';
import { resolveSource } from '../../jobs/sources';
import { requirePermission } from '../../repository/search/compile/access';
import { callerOf } from '../caller';
import type { RestContext } from '../context';

import { acceptJob, ownsUpload, parameterValue, parametersBody, requireRespondAsync } from './bulk-kickoff';

const NDJSON_FORMATS = new Set(['application/fhir+ndjson', 'application/ndjson', 'ndjson']);
const ACCEPTED_AND_IGNORED = new Set(['inputSource', 'mode', 'storageDetail']);
const MAX_INPUTS = 10_000;

export async function importOperation(ctx: RestContext, req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  requireRespondAsync(req, '$import');
  const notes: Issue[] = [];
  const inputs: ImportParams['inputs'] = [];
  for (const p of parametersBody(req)) {
    const name = typeof p.name === 'string' ? p.name : '';
    if (name === 'inputFormat') {
      const format = parameterValue(p);
      if (typeof format !== 'string' || !NDJSON_FORMATS.has(format.trim().toLowerCase())) {
        throw badRequest(`inputFormat '${String(format)}' is not supported: this server imports application/fhir+ndjson`, 'inputFormat');
      }
    } else if (name === 'input') {
      const parts = Array.isArray(p.part) ? p.part.filter(isJsonObject) : [];
      const get = (n: string) => {
        const part = parts.find((x) => x.name === n);
        return part ? parameterValue(part) : undefined;
      };
      const type = get('type');
      const url = get('url');
      if (typeof type !== 'string' || !isResourceType(type))
        throw badRequest(`Each $import input needs a type that is a resource type (got '${String(type)}')`, 'input.type');
      if (typeof url !== 'string') throw badRequest('Each $import input needs a url', 'input.url');
      const source = resolveSource(ctx.config, url); // 400 unless it is an upload of ours or allow-listed
      if (source.kind === 'file' && path.dirname(source.file) === uploadsDir(ctx.config.dataDir) && !(await ownsUpload(source.file, req))) {
        throw badRequest(`$import input '${url}' is not a known upload of this server`); // another token's upload: as unknown
      }
      inputs.push({ type, url });
    } else if (!ACCEPTED_AND_IGNORED.has(name)) {
      if (!req.fhir.prefer.lenient)
        throw badRequest(`$import parameter '${name}' is not supported (send Prefer: handling=lenient to have it ignored)`, name);
      notes.push(issue('warning', 'not-supported', `$import parameter '${name}' is not supported and was ignored`));
    }
  }
  if (inputs.length === 0) throw badRequest('$import needs at least one input (a Parameters body with input parts {type, url})', 'input');
  if (inputs.length > MAX_INPUTS) throw badRequest(`$import takes at most ${MAX_INPUTS} inputs`, 'input');
  // Each line is an update by id (a create when new): the token needs both for every input type, now rather than
  // line by line later; the job writes with the caller's access, so each row is checked like any write.
  const caller = callerOf(req);
  for (const type of new Set(inputs.map((i) => i.type))) {
    requirePermission(caller.access, 'c', type);
    requirePermission(caller.access, 'u', type);
  }
  const params: ImportParams = { inputs, actor: caller.actor };
  if (caller.access) params.access = caller.access;
  return acceptJob(ctx, req, reply, 'import', params, notes);
}
