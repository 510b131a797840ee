/**
 * HTTP details shared by the interaction modules: content negotiation (https://hl7.org/fhir/R4/http.html#mime-type
 * and `_format`), `_pretty`, the Prefer header (http.html#ops), ETag / Last-Modified / Location headers, and
 * sending stored resource text without re-serialising it when nothing asks for a change.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { parseStoredJson, toJson } from '../fhir/json';
import { OperationOutcomeError, issue, type Issue, type OperationOutcome } from '../fhir/outcome';
import { applySummary, parseElements, parseSummary, type SummaryMode } from '../fhir/summary';
import type { StoredVersion } from '../repository/repository';

const JSON_TYPES = new Set(['application/fhir+json', 'application/json', 'application/json+fhir', 'json', 'text/json']);
const XML_TYPES = new Set(['application/fhir+xml', 'application/xml', 'application/xml+fhir', 'xml', 'text/xml', 'html', 'text/html']);

export type Query = Record<string, string | string[] | undefined>;

export function queryValue(q: Query, name: string): string | undefined {
  const v = q[name];
  return Array.isArray(v) ? v[v.length - 1] : v;
}

/** The response media type, or a 406 when the client accepts only formats we do not produce. */
export function negotiate(req: FastifyRequest): string {
  const q = req.query as Query;
  const format = queryValue(q, '_format');
  if (format !== undefined) {
    const f = format.split(';')[0].trim().toLowerCase();
    if (JSON_TYPES.has(f)) return f === 'application/json' ? 'application/json' : 'application/fhir+json';
    throw new OperationOutcomeError(406, [
      issue('error', 'not-supported', `_format=${format} is not supported: this server speaks FHIR JSON only (use _format=json)`),
    ]);
  }
  const accept = req.headers.accept;
  if (!accept) return 'application/fhir+json';
  const ranges = accept.split(',').map((r) => r.split(';')[0].trim().toLowerCase());
  for (const r of ranges) {
    if (r === 'application/fhir+json' || r === 'application/json+fhir' || r === '*/*' || r === 'application/*' || r === '') return 'application/fhir+json';
    if (r === 'application/json') return 'application/json';
  }
  if (ranges.some((r) => XML_TYPES.has(r))) {
    throw new OperationOutcomeError(406, [
      issue('error', 'not-supported', `Accept: ${accept} cannot be satisfied: this server produces FHIR JSON only (application/fhir+json)`),
    ]);
  }
  return 'application/fhir+json';
}

export function isPretty(req: FastifyRequest): boolean {
  return queryValue(req.query as Query, '_pretty') === 'true';
}

export type PreferReturn = 'minimal' | 'representation' | 'OperationOutcome';

export function preferReturn(req: FastifyRequest): PreferReturn {
  const prefer = req.headers.prefer;
  const m = typeof prefer === 'string' ? /return=(minimal|representation|OperationOutcome)/i.exec(prefer) : null;
  if (!m) return 'representation';
  const v = m[1].toLowerCase();
  return v === 'minimal' ? 'minimal' : v === 'operationoutcome' ? 'OperationOutcome' : 'representation';
}

export function preferLenient(req: FastifyRequest): boolean {
  const prefer = req.headers.prefer;
  return typeof prefer === 'string' && /handling=lenient/i.test(prefer);
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
  const type = negotiate(req);
  return reply
    .code(status)
    .type(`${type}; charset=utf-8`)
    .send(toJson(body, isPretty(req)));
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
 * Sends a stored resource's JSON text. The stored text goes out untouched (no parse/serialise) unless `_pretty`,
 * `_summary` or `_elements` ask for a transformed view.
 */
export function sendResource(req: FastifyRequest, reply: FastifyReply, status: number, content: string): FastifyReply {
  const type = negotiate(req);
  const sub = subsetting(req);
  reply.code(status).type(`${type}; charset=utf-8`);
  if (!sub.summary && !sub.elements && !isPretty(req)) return reply.send(content);
  let resource = parseStoredJson(content);
  if (sub.summary || sub.elements) resource = applySummary(resource, sub.summary ?? 'false', sub.elements);
  return reply.send(toJson(resource, isPretty(req)));
}

/** Body for a write response per the Prefer header. */
export function sendWriteResult(
  req: FastifyRequest,
  reply: FastifyReply,
  status: number,
  content: string | undefined,
  info: Issue[],
): FastifyReply {
  const prefer = preferReturn(req);
  if (prefer === 'minimal' || content === undefined) return reply.code(status).send();
  if (prefer === 'OperationOutcome') {
    const issues = info.length ? info : [issue('information', 'informational', 'The interaction succeeded')];
    return sendOutcome(req, reply, status, issues);
  }
  return sendResource(req, reply, status, content);
}

/** Sends a Bundle built by bundle.ts (re-serialised only for `_pretty`). */
export function sendBundle(req: FastifyRequest, reply: FastifyReply, text: string): FastifyReply {
  const type = negotiate(req);
  reply.code(200).type(`${type}; charset=utf-8`);
  return reply.send(isPretty(req) ? toJson(parseStoredJson(text), true) : text);
}

/**
 * Rejects query parameters an interaction does not understand (400), unless the client sent
 * `Prefer: handling=lenient`, in which case they are ignored. Returns the names that were ignored.
 */
export function checkParams(req: FastifyRequest, allowed: string[], what: string): string[] {
  const q = req.query as Query;
  const unknown = Object.keys(q).filter((k) => !allowed.includes(k) && !['_format', '_pretty'].includes(k));
  if (unknown.length && !preferLenient(req)) {
    throw new OperationOutcomeError(400, [
      issue('error', 'not-supported', `Unknown or unsupported parameter(s) for ${what}: ${unknown.join(', ')} (send Prefer: handling=lenient to ignore them)`),
    ]);
  }
  return unknown;
}
