/**
 * The entries of a batch or transaction Bundle as typed requests (https://hl7.org/fhir/R4/bundle.html#transaction,
 * https://hl7.org/fhir/R4/http.html#transaction): what each `entry.request` asks for, checked on its own, with no I/O.
 * A malformed entry yields an error for that entry (a transaction fails on it, a batch answers it alone).
 */
import { isResourceType } from './definitions';
import { isJsonObject, type JsonObject, type JsonValue } from './json';
import { OperationOutcomeError, badRequest, notSupported } from './outcome';

export type EntryMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** What an entry does. Conditional forms carry their criteria (the query part of the URL, without `?`). */
export type EntryOperation =
  | { op: 'create'; type: string; ifNoneExist?: string }
  | { op: 'update'; type: string; id?: string; criteria?: string }
  | { op: 'patch'; type: string; id?: string; criteria?: string }
  | { op: 'delete'; type: string; id?: string; criteria?: string }
  | { op: 'read' };

export type EntryRequest = EntryOperation & {
  /** Position in Bundle.entry (0-based), used in every message about the entry. */
  index: number;
  method: EntryMethod;
  /** request.url relative to the server base (`Patient/123`, `Patient?identifier=…`). */
  url: string;
  fullUrl?: string;
  resource?: JsonObject;
  ifMatch?: string;
  ifNoneMatch?: string;
  ifModifiedSince?: string;
};

export interface EntryParseError {
  index: number;
  method?: string;
  url?: string;
  error: OperationOutcomeError;
}

const METHODS = new Set<EntryMethod>(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']);
const TYPE = /^([A-Z][A-Za-z]+)$/;
const INSTANCE = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/;
const CONDITIONAL = /^([A-Z][A-Za-z]+)\?(.*)$/;

/** `http://server/fhir/Patient/1` (this server's base) or `/Patient/1` → `Patient/1`; another server's URL → error. */
export function relativeUrl(url: string, baseUrl: string): string {
  if (url.startsWith(`${baseUrl}/`)) return url.slice(baseUrl.length + 1);
  if (/^[a-z][a-z0-9+.-]*:/i.test(url)) throw badRequest(`request.url '${url}' is not on this server (${baseUrl})`);
  return url.replace(/^\/+/, '');
}

function resourceType(type: string): string {
  if (!isResourceType(type)) throw badRequest(`Unknown resource type '${type}' in request.url`);
  return type;
}

function operationOf(method: EntryMethod, url: string, ifNoneExist: string | undefined): EntryOperation {
  if (method === 'GET' || method === 'HEAD') return { op: 'read' };
  const path = url.split('?')[0];
  if (path.includes('$') || path.endsWith('/_search')) {
    throw notSupported(`${method} ${url}: operations and searches by POST are not supported inside a Bundle`);
  }
  const instance = INSTANCE.exec(url);
  const conditional = CONDITIONAL.exec(url);
  const asType = TYPE.exec(url);
  switch (method) {
    case 'POST':
      if (!asType) throw badRequest(`POST entries create: request.url must be a resource type, got '${url}'`);
      return { op: 'create', type: resourceType(asType[1]), ifNoneExist };
    case 'PUT':
    case 'PATCH':
    case 'DELETE': {
      const op = method === 'PUT' ? 'update' : method === 'PATCH' ? 'patch' : 'delete';
      if (instance) return { op, type: resourceType(instance[1]), id: instance[2] };
      if (conditional && conditional[2] !== '') return { op, type: resourceType(conditional[1]), criteria: conditional[2] };
      throw badRequest(`${method} entries need request.url '[type]/[id]' or '[type]?[criteria]', got '${url}'`);
    }
  }
  throw badRequest(`Unsupported request.method '${method}'`);
}

function optionalString(request: JsonObject, name: string): string | undefined {
  const v = request[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v === '') throw badRequest(`request.${name} must be a non-empty string`);
  return v;
}

/** The search part of an ifNoneExist (`identifier=…`; a leading `Type?` or `?` is tolerated). */
function ifNoneExistQuery(value: string): string {
  const m = CONDITIONAL.exec(value);
  return m ? m[2] : value.replace(/^\?/, '');
}

function parseEntry(entry: JsonValue, index: number, baseUrl: string): EntryRequest {
  if (!isJsonObject(entry)) throw badRequest('A Bundle entry must be an object');
  const request = entry.request;
  if (!isJsonObject(request)) throw badRequest('A batch/transaction entry needs a request (method and url)');
  const method = request.method;
  if (typeof method !== 'string' || !METHODS.has(method as EntryMethod)) {
    throw badRequest(`request.method must be one of GET, HEAD, POST, PUT, PATCH, DELETE, got '${String(method)}'`);
  }
  if (typeof request.url !== 'string' || request.url === '') throw badRequest('request.url is missing');
  const url = relativeUrl(request.url, baseUrl);
  const ifNoneExist = optionalString(request, 'ifNoneExist');
  const op = operationOf(method as EntryMethod, url, ifNoneExist === undefined ? undefined : ifNoneExistQuery(ifNoneExist));
  const resource = entry.resource;
  if (resource !== undefined && !isJsonObject(resource)) throw badRequest('entry.resource must be a resource (a JSON object)');
  if ((method === 'POST' || method === 'PUT' || method === 'PATCH') && resource === undefined) {
    throw badRequest(`A ${method} entry needs a resource`);
  }
  if (entry.fullUrl !== undefined && typeof entry.fullUrl !== 'string') throw badRequest('entry.fullUrl must be a string');
  const out: EntryRequest = { ...op, index, method: method as EntryMethod, url };
  if (typeof entry.fullUrl === 'string') out.fullUrl = entry.fullUrl;
  if (resource !== undefined && method !== 'DELETE' && method !== 'GET' && method !== 'HEAD') out.resource = resource;
  const ifMatch = optionalString(request, 'ifMatch');
  if (ifMatch !== undefined) out.ifMatch = ifMatch;
  const ifNoneMatch = optionalString(request, 'ifNoneMatch');
  if (ifNoneMatch !== undefined) out.ifNoneMatch = ifNoneMatch;
  const ifModifiedSince = optionalString(request, 'ifModifiedSince');
  if (ifModifiedSince !== undefined) out.ifModifiedSince = ifModifiedSince;
  if (ifNoneExist !== undefined && op.op !== 'create') throw badRequest('request.ifNoneExist only applies to POST (create) entries');
  return out;
}

/** Checks the envelope and parses each entry; per-entry problems are returned, not thrown. */
export function parseBundleRequest(
  bundle: JsonValue,
  baseUrl: string,
): { type: 'batch' | 'transaction'; entries: (EntryRequest | EntryParseError)[] } {
  if (!isJsonObject(bundle) || bundle.resourceType !== 'Bundle') throw badRequest('POST to the base URL takes a Bundle (batch or transaction)');
  const type = bundle.type;
  if (type !== 'batch' && type !== 'transaction') {
    throw badRequest(`Bundle.type must be 'batch' or 'transaction' to be processed here, got '${String(type)}'`, 'Bundle.type');
  }
  const list = bundle.entry ?? [];
  if (!Array.isArray(list)) throw badRequest('Bundle.entry must be an array', 'Bundle.entry');
  const entries = list.map((e, index): EntryRequest | EntryParseError => {
    try {
      return parseEntry(e, index, baseUrl);
    } catch (err) {
      if (!(err instanceof OperationOutcomeError)) throw err;
      const req = isJsonObject(e) && isJsonObject(e.request) ? e.request : {};
      return {
        index,
        method: typeof req.method === 'string' ? req.method : undefined,
        url: typeof req.url === 'string' ? req.url : undefined,
        error: err,
      };
    }
  });
  return { type, entries };
}

export function isParseError(e: EntryRequest | EntryParseError): e is EntryParseError {
  return (e as EntryParseError).error !== undefined;
}
