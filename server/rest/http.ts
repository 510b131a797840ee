/**
 * HTTP details shared by the interaction modules: ETag / Last-Modified / Location headers, and sending responses in
 * the format the request negotiated (`req.fhir`, worked out once by negotiation.ts) — stored resource text
 * without re-serialising it when nothing asks for a change.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { parseStoredJson, resourceTypeFirst, toJson } from '../fhir/json';
import { OperationOutcomeError, issue, type Issue, type OperationOutcome } from '../fhir/outcome';
import { applySummary, parseElements, parseSummary, type SummaryMode } from '../fhir/summary';
import type { StoredVersion } from '../repository/versions';

export type Query = Record<string, string | string[] | undefined>;

export function queryValue(q: Query, name: string): string | undefined {
  const v = q[name];
  return Array.isArray(v) ? v[v.length - 1] : v;
}

export function etag(versionId: number): string {
  return `W/"${versionId}"`;
}

export function httpDate(instant: string): string {
  return new Date(instant).toUTCString();
}

/** Sets the version headers of a stored version. */
export function versionHeaders(reply: FastifyReply, v: StoredVersion): void {
  reply.header('ETag', etag(v.versionId));
  if (v.lastUpdated) reply.header('Last-Modified', httpDate(v.lastUpdated));
}

export function sendJson(req: FastifyRequest, reply: FastifyReply, status: number, body: unknown): FastifyReply {
  return reply.code(status).type(`${req.fhir.format}; charset=utf-8`).send(toJson(body, req.fhir.pretty));
}

export function sendOutcome(req: FastifyRequest, reply: FastifyReply, status: number, issues: Issue[]): FastifyReply {
  const oo: OperationOutcome = { resourceType: 'OperationOutcome', issue: issues };
  return sendJson(req, reply, status, oo);
}

/** `_summary`/`_elements` requested on this request (read-type interactions). */
export function subsetting(req: FastifyRequest): { summary?: SummaryMode; elements?: string[] } {
  const q = req.query as Query;
  const s = queryValue(q, '_summary');
  const e = queryValue(q, '_elements');
  return { summary: s !== undefined ? parseSummary(s) : undefined, elements: e !== undefined ? parseElements(e) : undefined };
}

/**
 * Sends a stored resource's JSON text, `resourceType` first. The stored text goes out otherwise untouched (no
 * parse/serialise) unless `_pretty`, `_summary` or `_elements` ask for a transformed view.
 */
export function sendResource(req: FastifyRequest, reply: FastifyReply, status: number, stored: string): FastifyReply {
  const content = resourceTypeFirst(stored);
  const { format, pretty } = req.fhir;
  const sub = subsetting(req);
  reply.code(status).type(`${format}; charset=utf-8`);
  if (!sub.summary && !sub.elements && !pretty) return reply.send(content);
  let resource = parseStoredJson(content);
  if (sub.summary || sub.elements) resource = applySummary(resource, sub.summary ?? 'false', sub.elements);
  return reply.send(toJson(resource, pretty));
}

/** Body for a write response per the Prefer header. */
export function sendWriteResult(req: FastifyRequest, reply: FastifyReply, status: number, content: string | undefined, info: Issue[]): FastifyReply {
  // A single-resource write returns the resource unless the client asked otherwise (http.html#ops).
  const prefer = req.fhir.prefer.return ?? 'representation';
  if (prefer === 'minimal' || content === undefined) return reply.code(status).send();
  if (prefer === 'OperationOutcome') {
    const issues = info.length ? info : [issue('information', 'informational', 'The interaction succeeded')];
    return sendOutcome(req, reply, status, issues);
  }
  return sendResource(req, reply, status, content);
}

/** Sends a Bundle built by bundle.ts (re-serialised only for `_pretty`). */
export function sendBundle(req: FastifyRequest, reply: FastifyReply, text: string): FastifyReply {
  reply.code(200).type(`${req.fhir.format}; charset=utf-8`);
  return reply.send(req.fhir.pretty ? toJson(parseStoredJson(text), true) : text);
}

/**
 * Rejects query parameters an interaction does not understand (400), unless the client sent
 * `Prefer: handling=lenient`, in which case they are ignored. Returns the names that were ignored.
 */
export function checkParams(req: FastifyRequest, allowed: string[], what: string): string[] {
  return checkParamNames(Object.keys(req.query as Query), req.fhir.prefer.lenient, allowed, what);
}

/** checkParams for parameter names from elsewhere (a bundle entry's URL). */
export function checkParamNames(names: string[], lenient: boolean, allowed: string[], what: string): string[] {
  const unknown = [...new Set(names)].filter((k) => !allowed.includes(k) && !['_format', '_pretty'].includes(k));
  if (unknown.length && !lenient) {
    throw new OperationOutcomeError(400, [
      issue(
        'error',
        'not-supported',
        `Unknown or unsupported parameter(s) for ${what}: ${unknown.join(', ')} (send Prefer: handling=lenient to ignore them)`,
      ),
    ]);
  }
  return unknown;
}
