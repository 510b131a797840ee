/**
 * What a FHIR request asks of the response, worked out ONCE per request by a preHandler hook on every route under
 * the FHIR base (app.ts) and read by handlers as `req.fhir`:
 *  - the response media type, from `_format` or `Accept` (https://hl7.org/fhir/R4/http.html#mime-type): this
 *    server produces JSON only, so a client that accepts only XML gets a 406 before any work is done;
 *  - `_pretty` (http.html#parameters);
 *  - the `Prefer` header (http.html#ops, search.html#errors, async.html): `return=`, `handling=` and
 *    `respond-async`.
 * The parsing functions are pure so that bundle entries (which carry no HTTP request) can use them too.
 */
import type { FastifyRequest } from 'fastify';
import { OperationOutcomeError, issue } from '../fhir/outcome';
import type { PreferReturn } from '../repository/transaction';

export type MediaType = 'application/fhir+json' | 'application/json';

export interface Prefer {
  /** `return=…` when the client sent it; each interaction applies its own default. */
  return?: PreferReturn;
  /** `handling=lenient`: unknown search/operation parameters are ignored (with a warning) instead of a 400. */
  lenient: boolean;
  /** `respond-async`: the client accepts the asynchronous request pattern (bulk kick-offs require it). */
  respondAsync: boolean;
}

export interface FhirRequest {
  format: MediaType;
  pretty: boolean;
  prefer: Prefer;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the FHIR preHandler hook on routes under the FHIR base; null elsewhere. */
    fhir: FhirRequest;
  }
}

type Query = Record<string, string | string[] | undefined>;

const JSON_TYPES = new Set(['application/fhir+json', 'application/json', 'application/json+fhir', 'json', 'text/json']);
const XML_TYPES = new Set(['application/fhir+xml', 'application/xml', 'application/xml+fhir', 'xml', 'text/xml', 'html', 'text/html']);

function last(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[v.length - 1] : v;
}

/** The response media type, or a 406 when the client accepts only formats we do not produce. */
export function negotiateFormat(format: string | undefined, accept: string | undefined): MediaType {
  if (format !== undefined) {
    const f = format.split(';')[0].trim().toLowerCase();
    if (JSON_TYPES.has(f)) return f === 'application/json' ? 'application/json' : 'application/fhir+json';
    throw new OperationOutcomeError(406, [
      issue('error', 'not-supported', `_format=${format} is not supported: this server speaks FHIR JSON only (use _format=json)`),
    ]);
  }
  if (!accept) return 'application/fhir+json';
  const ranges = accept.split(',').map((r) => r.split(';')[0].trim().toLowerCase());
  for (const r of ranges) {
    if (r === 'application/fhir+json' || r === 'application/json+fhir' || r === '*/*' || r === 'application/*' || r === '')
      return 'application/fhir+json';
    if (r === 'application/json') return 'application/json';
  }
  if (ranges.some((r) => XML_TYPES.has(r))) {
    throw new OperationOutcomeError(406, [
      issue('error', 'not-supported', `Accept: ${accept} cannot be satisfied: this server produces FHIR JSON only (application/fhir+json)`),
    ]);
  }
  return 'application/fhir+json';
}

const RETURNS: Record<string, PreferReturn> = { minimal: 'minimal', representation: 'representation', operationoutcome: 'OperationOutcome' };

/**
 * The Prefer header (RFC 7240: comma-separated preferences, `;` parameters, optional quoted values; several
 * headers combine). Unknown preferences are ignored, as the RFC asks.
 */
export function parsePrefer(header: string | string[] | undefined): Prefer {
  const out: Prefer = { lenient: false, respondAsync: false };
  const text = Array.isArray(header) ? header.join(',') : (header ?? '');
  for (const token of text.split(/[,;]/)) {
    const eq = token.indexOf('=');
    const name = (eq < 0 ? token : token.slice(0, eq)).trim().toLowerCase();
    const value =
      eq < 0
        ? ''
        : token
            .slice(eq + 1)
            .trim()
            .replace(/^"(.*)"$/, '$1')
            .toLowerCase();
    if (name === 'return' && RETURNS[value]) out.return = RETURNS[value];
    else if (name === 'handling') out.lenient = value === 'lenient';
    else if (name === 'respond-async') out.respondAsync = true;
  }
  return out;
}

export function fhirRequestOf(query: Query, headers: FastifyRequest['headers']): FhirRequest {
  return {
    format: negotiateFormat(last(query._format), last(headers.accept)),
    pretty: last(query._pretty) === 'true',
    prefer: parsePrefer(headers.prefer),
  };
}

/** The preHandler hook: runs after body parsing (so a bad body is still a 415/400 first), before the handler. */
export async function fhirRequestHook(req: FastifyRequest): Promise<void> {
  req.fhir = fhirRequestOf(req.query as Query, req.headers);
}
