/**
 * The audit interceptor (DESIGN.md §7, HAPI-style: one cross-cutting concern around the one pipeline): every request
 * to the FHIR base gets an audit trail (trail.ts) that the read path and the write engine fill through the Caller,
 * and when its response has gone out, ONE AuditEvent is recorded for it (log.ts: buffered, written in batches):
 *
 * - who: the token's client, the user (`fhirUser`) and the network address; what: the interaction (BALP subtype),
 *   the patients involved (the token's patient, the Patient named by the URL or by `patient`/`subject` criteria,
 *   and the Patients the resources handed over or written belong to), the resources (for reads and writes: up to
 *   20) or the query and its count (searches, history, operations); outcome: from the HTTP status, so refusals
 *   (401 without a valid token, 403 without the scope, 404 outside the caller's access) are recorded as failures.
 * - a bundle is one event (subtype batch/transaction) naming everything its entries touched.
 *
 * Authorization decisions outside the FHIR base (token endpoint, sign-in) are recorded by their endpoints through
 * `recordDecision` (decisions.ts).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AuditAction, AuditDetail, AuditSubtype } from './event';
import { MAX_PATIENTS, outcomeOfStatus } from './event';
import type { AuditLog } from './log';
import { RequestTrail } from './trail';

declare module 'fastify' {
  interface FastifyInstance {
    /** The audit log of this app; null when auditing is off (AROGYA_AUDIT=off). */
    audit: AuditLog | null;
  }
  interface FastifyRequest {
    /** This request's audit trail (FHIR base requests while auditing is on), handed to the repository by callerOf. */
    auditTrail: RequestTrail | null;
  }
}

type Params = { type?: string; id?: string; vid?: string; op?: string };

interface Interaction {
  subtype: AuditSubtype;
  action: AuditAction;
  operation?: string;
  /** the event lists the resources touched (reads and writes) rather than a query and count */
  lists: boolean;
}

const REST: Record<string, [AuditSubtype, AuditAction, boolean]> = {
  read: ['read', 'R', true],
  vread: ['vread', 'R', true],
  create: ['create', 'C', true],
  update: ['update', 'U', true],
  patch: ['patch', 'U', true],
  delete: ['delete', 'D', true],
  'search-type': ['search-type', 'E', false],
  'search-system': ['search-system', 'E', false],
  'history-instance': ['history-instance', 'E', false],
  'history-type': ['history-type', 'E', false],
  'history-system': ['history-system', 'E', false],
  batch: ['batch', 'E', true],
  transaction: ['transaction', 'E', true],
};

const rest = (code: string): Interaction => {
  const [subtype, action, lists] = REST[code];
  return { subtype, action, lists };
};
const operation = (name: string): Interaction => ({ subtype: 'operation', action: 'E', operation: name, lists: false });

const WRITE_BY_METHOD: Record<string, string> = { PUT: 'update', PATCH: 'patch', DELETE: 'delete' };

/** The FHIR interaction of a request, from its route (rest/router.ts's table) and method; undefined: not audited. */
function interactionOf(req: FastifyRequest, prefix: string): Interaction | undefined {
  const route = req.routeOptions.url;
  if (route === undefined || !route.startsWith(prefix)) return undefined;
  const rel = route.slice(prefix.length);
  const p = req.params as Params;
  const m = req.method === 'HEAD' ? 'GET' : req.method;
  const dollar = (s: string | undefined): boolean => s?.startsWith('$') === true;
  switch (rel) {
    case '':
      if (m !== 'POST') return rest('search-system');
      return rest((req.body as { type?: unknown } | null)?.type === 'transaction' ? 'transaction' : 'batch');
    case '/_search':
      return rest('search-system');
    case '/metadata':
    case '/.well-known/smart-configuration':
      return undefined;
    case '/_history':
      return rest('history-system');
    case '/:type':
      if (dollar(p.type)) return operation(p.type!);
      return rest(m === 'GET' ? 'search-type' : m === 'POST' ? 'create' : (WRITE_BY_METHOD[m] ?? 'search-type'));
    case '/:type/_search':
      return rest('search-type');
    case '/:type/_history':
      return rest('history-type');
    case '/:type/:id':
      if (dollar(p.id)) return operation(p.id!);
      return rest(m === 'GET' ? 'read' : (WRITE_BY_METHOD[m] ?? 'read'));
    case '/:type/:id/_history':
      return rest('history-instance');
    case '/:type/:id/_history/:vid':
      return rest('vread');
    case '/:type/:id/_history/:vid/:op':
      return operation(p.op ?? '');
    case '/:type/:id/:op':
      return dollar(p.op) ? operation(p.op!) : rest('search-type'); // a compartment search
  }
  // bulk data: kick-off status, files, uploads
  return rel.startsWith('/_bulk') ? operation('$export') : undefined;
}

/** A query component decoded as URLSearchParams would (`+` is a space; a malformed escape is kept as it is). */
function decodeComponent(s: string): string {
  const t = s.includes('+') ? s.replaceAll('+', ' ') : s;
  if (!t.includes('%')) return t;
  try {
    return decodeURIComponent(t);
  } catch {
    return new URLSearchParams(`x=${s}`).get('x') ?? t;
  }
}

/**
 * Patient ids a search or operation names in its criteria (`patient=`, `subject=Patient/…`, Patient's `_id`).
 * Only the values of those parameters are decoded: a query without them (most searches) costs a scan of its keys.
 */
function namedPatients(query: string, type: string | undefined, add: (id: string) => void): void {
  for (const part of query.split('&')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const key = decodeComponent(part.slice(0, eq));
    const colon = key.indexOf(':');
    const name = colon < 0 ? key : key.slice(0, colon);
    const patientParam = name === 'patient' || key === 'subject:Patient' || (type === 'Patient' && name === '_id');
    if (!patientParam && name !== 'subject') continue;
    for (const value of decodeComponent(part.slice(eq + 1)).split(',')) {
      const m = /(?:^|\/)Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(value);
      if (m) add(m[1]);
      else if (patientParam && /^[A-Za-z0-9\-.]{1,64}$/.test(value)) add(value);
    }
  }
}

/** The AuditEvent of one finished request. */
function recordRequest(log: AuditLog, req: FastifyRequest, reply: FastifyReply, trail: RequestTrail, prefix: string): void {
  const status = reply.statusCode;
  const auth = req.auth ?? null;
  const interaction = interactionOf(req, prefix);
  // A request the router did not know (404 on an unknown path) touched nothing; a refused one is still audited.
  if (!interaction && status !== 401 && status !== 403) return;
  const p = req.params as Params;
  const q = req.url.indexOf('?');
  const path = (q < 0 ? req.url : req.url.slice(0, q)).slice(prefix.length + 1);

  if (auth?.patient) trail.patient(auth.patient);
  if (p.type === 'Patient' && p.id && !p.id.startsWith('$')) trail.patient(p.id);
  const detail: AuditDetail = { status };
  if (interaction && !interaction.lists) {
    let query = q < 0 ? '' : req.url.slice(q + 1);
    if (req.method === 'POST' && typeof req.body === 'string' && interaction.subtype.startsWith('search')) {
      query = query ? `${query}&${req.body}` : req.body;
    }
    if (query) namedPatients(query, p.type, (id) => trail.patient(id));
    detail.query = query;
    detail.path = path;
    if (trail.count !== undefined) detail.count = trail.count;
    if (trail.total !== undefined) detail.total = trail.total;
  } else if (trail.entities.length) {
    detail.entities = trail.entities;
    if (trail.moreEntities) detail.moreEntities = true;
  } else {
    detail.path = path;
  }
  if (interaction?.operation) detail.operation = interaction.operation;
  if (trail.morePatients) detail.morePatients = true;
  if (auth) {
    detail.jti = auth.jti;
    if (!auth.fhirUser && auth.sub !== auth.clientId) detail.user = auth.sub;
  }
  if (status === 401) detail.reason = 'no valid bearer token';
  else if (status === 403) detail.reason = 'refused: outside the scopes granted';

  log.record({
    type: 'rest',
    subtype: interaction?.subtype ?? 'operation',
    action: interaction?.action ?? 'E',
    outcome: outcomeOfStatus(status),
    clientId: auth?.clientId,
    who: auth?.fhirUser,
    address: req.ip,
    patient: trail.patients.size ? [...trail.patients].slice(0, MAX_PATIENTS) : undefined,
    requestId: req.id,
    detail,
  });
}

/** Whether `url` is under the FHIR base `prefix` (the base itself, a path below it, or its query). */
function underPrefix(url: string, prefix: string): boolean {
  if (!url.startsWith(prefix)) return false;
  const next = url[prefix.length];
  return next === undefined || next === '/' || next === '?';
}

/**
 * This request's audit trail, made at its first use by the REST layer (rest/caller.ts): every handler of the FHIR
 * base asks for its Caller, so a request that reaches one gets a trail; undefined while auditing is off.
 */
export function auditTrailOf(req: FastifyRequest): RequestTrail | undefined {
  if (req.auditTrail) return req.auditTrail;
  if (!req.server.audit) return undefined;
  req.auditTrail = new RequestTrail(req);
  return req.auditTrail;
}

/** Installs the interceptor on `app` for the routes under `prefix` (the FHIR base path). */
export function registerAuditHooks(app: FastifyInstance, log: AuditLog | null, prefix: string): void {
  app.decorate('audit', log);
  app.decorateRequest('auditTrail', null);
  if (!log) return;
  // One callback-style hook (an async one costs each request a promise and a turn of the microtask queue). A request
  // refused before its handler (401, 400) never asked for a trail: it is recorded with an empty one.
  app.addHook('onResponse', (req, reply, done) => {
    // (CORS preflights touch no data and decide nothing)
    if (req.method !== 'OPTIONS' && underPrefix(req.url, prefix)) {
      try {
        recordRequest(log, req, reply, req.auditTrail ?? new RequestTrail(req), prefix);
      } catch (e) {
        req.log.warn({ err: { message: (e as Error).message } }, 'audit: the request could not be recorded');
      }
    }
    done();
  });
  app.addHook('onClose', async () => log.flush());
}
