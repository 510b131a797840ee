/**
 * What the bulk kick-off requests ($export, $import) share — the FHIR Asynchronous Request Pattern
 * (https://hl7.org/fhir/uv/bulkdata/export.html#bulk-data-kick-off-request): `Prefer: respond-async` is required,
 * parameters come from the query string (GET) or a Parameters body (POST), and a kick-off that is accepted
 * answers 202 with `Content-Location` naming the job's status URL.
 */
import fs from 'node:fs';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { isJsonObject, parseFhirJson, type JsonObject, type JsonValue } from '../../fhir/json';
import { OperationOutcomeError, badRequest, issue, type Issue } from '../../fhir/outcome';
import type { JobRunner } from '../../jobs/runner';
import type { JobKind } from '../../jobs/store';
import type {} from '../../auth/context';
import type { RestContext } from '../context';
import { sendOutcome } from '../http';

/** The value of a Parameters.parameter, whatever its value[x]. */
export function parameterValue(p: JsonObject): JsonValue | undefined {
  for (const [k, v] of Object.entries(p)) if (k.startsWith('value')) return v;
  return undefined;
}

export function requireRespondAsync(req: FastifyRequest, operation: string): void {
  if (!req.fhir.prefer.respondAsync) {
    throw badRequest(`${operation} runs asynchronously: send the header 'Prefer: respond-async' (FHIR Asynchronous Request Pattern)`);
  }
}

/** The Parameters body of a POST kick-off (an empty body is no parameters). */
export function parametersBody(req: FastifyRequest): JsonObject[] {
  if (typeof req.body !== 'string' || req.body.trim() === '') return [];
  const body = parseFhirJson(req.body);
  if (!isJsonObject(body) || body.resourceType !== 'Parameters') throw badRequest('The kick-off body must be a Parameters resource');
  const params = body.parameter ?? [];
  if (!Array.isArray(params) || !params.every(isJsonObject)) throw badRequest('Parameters.parameter must be an array of parameters');
  return params as JsonObject[];
}

export function runnerOf(ctx: RestContext): JobRunner {
  if (!ctx.jobs) {
    throw new OperationOutcomeError(503, [issue('error', 'transient', 'Bulk jobs are not available: the job runner is not running in this server')]);
  }
  return ctx.jobs;
}

/** The kick-off URL as the client sent it, under the public base (for the manifest's `request`). */
export function requestUrl(ctx: RestContext, req: FastifyRequest): string {
  return `${ctx.config.baseUrl}${req.url.slice(req.url.indexOf('/', 1))}`; // req.url is /fhir/…
}

/**
 * Who a bulk job belongs to: the client, subject and launch patient of the token that kicked it off (undefined
 * without a token: AROGYA_AUTH=off). Its status, files and cancellation answer only to the same (else 404): a job
 * holds what its owner's access let it read.
 */
export function jobOwner(req: FastifyRequest): string | undefined {
  const a = req.auth;
  return a ? `${a.clientId}|${a.sub}|${a.patient ?? ''}` : undefined;
}

export function ownsJob(params: unknown, req: FastifyRequest): boolean {
  return (params as { owner?: string } | null)?.owner === jobOwner(req);
}

/** Where an upload's owner is kept: beside the upload (removed with it by the retention sweep). */
export const uploadOwnerFile = (upload: string): string => `${upload}.owner`;

/** Whether an upload (a file of ours) belongs to the token of `req`, as a job does (jobOwner). */
export async function ownsUpload(upload: string, req: FastifyRequest): Promise<boolean> {
  const owner = await fs.promises.readFile(uploadOwnerFile(upload), 'utf8').catch(() => '');
  return owner === (jobOwner(req) ?? '');
}

/** Creates the job, queues it and answers 202 Accepted with the status URL. */
export async function acceptJob(
  ctx: RestContext,
  req: FastifyRequest,
  reply: FastifyReply,
  kind: JobKind,
  params: unknown,
  notes: Issue[],
): Promise<FastifyReply> {
  const runner = runnerOf(ctx);
  const owner = jobOwner(req);
  const id = await runner.store.create(kind, requestUrl(ctx, req), owner === undefined ? params : { ...(params as object), owner });
  await runner.enqueue(kind, id);
  const status = `${ctx.config.baseUrl}/_bulk/jobs/${id}`;
  reply.header('Content-Location', status);
  return sendOutcome(req, reply, 202, [
    issue('information', 'informational', `The ${kind} was accepted as job ${id}: poll ${status} for its status`),
    ...notes,
  ]);
}
