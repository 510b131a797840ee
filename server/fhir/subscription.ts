/**
 * Admission of an R4 Subscription (https://hl7.org/fhir/R4/subscription.html), on the one write path
 * (Repository.prepare): what a client may ask for, checked before anything is stored; no I/O.
 *
 * - status: a client submits `requested` (or `off` to pause it); the server stores `requested` as `active` and
 *   alone sets `error` (with `Subscription.error`). `active`/`error` from a client is a 422; `error` text from a
 *   client is dropped (server-managed).
 * - criteria: `Type?params` (or `Type` alone: every change of that type), parsed by the search grammar itself
 *   (search/parse.ts, strictly): an unknown type or parameter is a 400 naming it.
 * - channel: `rest-hook` (an http/https endpoint; payload none, `application/fhir+json` or `application/json`;
 *   headers `Name: value`) or `websocket`; other channel types are 422 not-supported.
 */
import { isResourceType } from './definitions';
import { isJsonObject, type JsonObject } from './json';
import { badRequest, issue, OperationOutcomeError } from './outcome';
import { parseCriteria } from './search/parse';
import type { Criterion } from './search/criteria';

export const SUBSCRIPTION_CHANNELS = ['rest-hook', 'websocket'] as const;
export type SubscriptionChannel = (typeof SUBSCRIPTION_CHANNELS)[number];

/** Payload MIME types a rest-hook may ask for (both are the resource's JSON). */
export const REST_HOOK_PAYLOADS = ['application/fhir+json', 'application/json'];

/** Headers a subscription may not set: they frame the request or are the server's own. */
const RESERVED_HEADERS = new Set([
  'host',
  'content-length',
  'content-type',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
  'te',
  'trailer',
  'expect',
  'proxy-connection',
]);
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

export interface AdmissionOptions {
  timeZone: string;
  baseUrl: string;
  /** The server itself writes (workflows, `status=error`): any status is kept as given. */
  system: boolean;
  /** Why a rest-hook endpoint is refused by its address (events/subscriptions/address-guard.ts), or undefined. */
  endpointProblem?: (url: URL) => string | undefined;
}

const unprocessable = (code: 'business-rule' | 'not-supported' | 'value' | 'security', diagnostics: string, expression: string) =>
  new OperationOutcomeError(422, [issue('error', code, diagnostics, expression)]);

/** A Subscription's criteria string → its resource type and parsed criteria (strict: 400 on anything unknown). */
export function parseSubscriptionCriteria(criteria: string, timeZone: string, baseUrl: string): { type: string; criteria: Criterion[] } {
  const q = criteria.indexOf('?');
  const type = q < 0 ? criteria : criteria.slice(0, q);
  if (!isResourceType(type)) {
    throw badRequest(`Subscription.criteria must start with a resource type ('Observation?code=…'); '${type}' is not one`, 'Subscription.criteria');
  }
  if (type === 'AuditEvent')
    throw unprocessable('not-supported', 'AuditEvents cannot be subscribed to (the audit log is not a change stream)', 'Subscription.criteria');
  const query = q < 0 ? '' : criteria.slice(q + 1);
  return { type, criteria: parseCriteria(type, new URLSearchParams(query), 'Subscription.criteria', timeZone, baseUrl) };
}

/** The rest-hook's custom headers as name/value pairs (checked at admission). */
export function parseHeaders(headers: unknown): [string, string][] {
  if (headers === undefined) return [];
  const list = Array.isArray(headers) ? headers : [headers];
  return list.map((h, i) => {
    const where = `Subscription.channel.header[${i}]`;
    if (typeof h !== 'string') throw badRequest('A channel header is a string', where);
    const colon = h.indexOf(':');
    const name = colon > 0 ? h.slice(0, colon).trim() : '';
    const value = colon > 0 ? h.slice(colon + 1).trim() : '';
    if (!HEADER_NAME.test(name)) throw unprocessable('value', `A channel header is 'Name: value'; '${h.slice(0, 40)}' is not`, where);
    if (/[\u0000-\u0008\u000a-\u001f\u007f]/.test(value)) throw unprocessable('value', `Channel header '${name}' has a control character`, where);
    const lower = name.toLowerCase();
    if (RESERVED_HEADERS.has(lower) || lower.startsWith('x-arogya-')) {
      throw unprocessable('business-rule', `Channel header '${name}' is set by the server and may not be given`, where);
    }
    return [name, value];
  });
}

/** The payload MIME type without parameters (`application/fhir+json; fhirVersion=4.0` → `application/fhir+json`), or undefined. */
export function payloadType(payload: unknown): string | undefined {
  if (typeof payload !== 'string' || payload.trim() === '') return undefined;
  return payload.split(';')[0].trim().toLowerCase();
}

/**
 * Checks a Subscription a caller writes and returns what is stored: `requested` → `active`. Throws a 400 for
 * criteria the search grammar does not understand and 422 for what the server will not do.
 */
export function admitSubscription(resource: JsonObject, opts: AdmissionOptions): JsonObject {
  const out: JsonObject = { ...resource };
  const status = out.status;
  if (!opts.system) {
    if (status !== 'requested' && status !== 'off') {
      throw unprocessable(
        'business-rule',
        `A client submits a Subscription with status 'requested' (the server then makes it 'active') or 'off'; '${String(status)}' is set by the server only`,
        'Subscription.status',
      );
    }
    delete out.error; // server-managed: the reason of the last failure
  }
  if (status === 'requested') out.status = 'active';

  if (typeof out.criteria !== 'string') throw badRequest('Subscription.criteria is required', 'Subscription.criteria');
  parseSubscriptionCriteria(out.criteria, opts.timeZone, opts.baseUrl);

  const channel = out.channel;
  if (!isJsonObject(channel)) throw badRequest('Subscription.channel is required', 'Subscription.channel');
  const type = channel.type;
  if (!SUBSCRIPTION_CHANNELS.includes(type as SubscriptionChannel)) {
    throw unprocessable(
      'not-supported',
      `Channel type '${String(type)}' is not supported: only rest-hook and websocket`,
      'Subscription.channel.type',
    );
  }
  if (type === 'rest-hook') {
    if (typeof channel.endpoint !== 'string' || channel.endpoint === '') {
      throw unprocessable('value', 'A rest-hook subscription needs channel.endpoint (an http or https URL)', 'Subscription.channel.endpoint');
    }
    let url: URL;
    try {
      url = new URL(channel.endpoint);
    } catch {
      throw unprocessable('value', 'channel.endpoint is not an absolute URL', 'Subscription.channel.endpoint');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw unprocessable('value', `channel.endpoint must be an http or https URL, not ${url.protocol}`, 'Subscription.channel.endpoint');
    }
    if (url.username || url.password) {
      throw unprocessable('security', 'channel.endpoint may not carry credentials: send them in a channel.header', 'Subscription.channel.endpoint');
    }
    const problem = opts.endpointProblem?.(url);
    if (problem) throw unprocessable('security', `channel.endpoint is refused: ${problem}`, 'Subscription.channel.endpoint');
    const payload = payloadType(channel.payload);
    if (payload !== undefined && !REST_HOOK_PAYLOADS.includes(payload)) {
      throw unprocessable(
        'not-supported',
        `channel.payload '${String(channel.payload)}' is not supported: omit it (no body) or use application/fhir+json`,
        'Subscription.channel.payload',
      );
    }
    parseHeaders(channel.header);
  }
  return out;
}
