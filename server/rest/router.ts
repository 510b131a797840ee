/**
 * The FHIR router (https://hl7.org/fhir/R4/http.html#summary): maps URL shapes and methods to interaction
 * modules. The same table drives the CapabilityStatement (capabilities.ts), so the server never claims an
 * interaction it does not route. A known URL shape with an unsupported method answers 405 with an Allow header.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';
import { OperationOutcomeError, issue, notFound } from '../fhir/outcome';
import { isResourceType, r4Model } from '../fhir/definitions';
import type { RestContext } from './context';
import { batchOrTransaction } from './batch-transaction';
import { capabilities, type InteractionCode } from './capabilities';
import { create } from './create';
import { conditionalDelete, deleteResource } from './delete';
import { history } from './history';
import { conditionalPatch, patch } from './patch';
import { read } from './read';
import { compartmentSearch, search, systemSearch } from './search';
import { conditionalUpdate, update } from './update';
import { vread } from './vread';
import { findOperation } from './operations';
import { sendJson } from './http';
import { builtInResource } from '../conformance-load';

type Params = { type?: string; id?: string; vid?: string; op?: string };
type Handler = (ctx: RestContext, req: FastifyRequest, reply: FastifyReply, p: Params) => Promise<FastifyReply>;

interface Route {
  url: string;
  methods: Partial<Record<HTTPMethods, { handler: Handler; interaction?: InteractionCode | InteractionCode[] }>>;
}

function criteriaOf(req: FastifyRequest): string {
  return req.url.includes('?') ? req.url.slice(req.url.indexOf('?') + 1) : '';
}

function typeOf(p: Params): string {
  if (!p.type || !isResourceType(p.type)) throw notFound(`Unknown resource type '${p.type ?? ''}'`);
  return p.type;
}

/** `[type]?criteria` writes need criteria; without them PUT/PATCH/DELETE on a type URL are not allowed. */
function needsCriteria(req: FastifyRequest, what: string): string {
  const c = criteriaOf(req);
  if (!c) {
    throw new OperationOutcomeError(
      405,
      [issue('error', 'not-supported', `${req.method} on a resource type URL is a ${what}: it needs search criteria`)],
      {
        Allow: 'GET, HEAD, POST, PUT, PATCH, DELETE',
      },
    );
  }
  return c;
}

/** `[base]/$op`, `[type]/$op`, `[type]/[id]/$op` or `[type]/[id]/_history/[vid]/$op` dispatch. */
async function operation(
  ctx: RestContext,
  req: FastifyRequest,
  reply: FastifyReply,
  name: string,
  type?: string,
  id?: string,
  vid?: string,
): Promise<FastifyReply> {
  const op = findOperation(name, type);
  const level = vid !== undefined ? 'version' : id ? 'instance' : type ? 'type' : 'system';
  if (!op?.[level]) throw notFound(`Unknown operation ${name} at ${level} level`);
  if (type && op.types && !op.types.includes(type)) throw notFound(`Operation ${name} is not defined on ${type}`);
  if (!op.methods.includes(req.method as 'GET' | 'POST')) {
    throw new OperationOutcomeError(405, [issue('error', 'not-supported', `${name} does not accept ${req.method}`)], {
      Allow: op.methods.join(', '),
    });
  }
  return op.handle(ctx, req, reply, type, id, vid);
}

/**
 * `GET [type]/[id]`: a built-in conformance resource (conformance-load.ts: the server's OperationDefinitions and
 * SearchParameters) is answered from memory, read-only; anything else is a stored resource.
 */
async function readOrBuiltIn(ctx: RestContext, req: FastifyRequest, reply: FastifyReply, type: string, id: string): Promise<FastifyReply> {
  const builtIn = builtInResource(type, id);
  if (builtIn) return sendJson(req, reply, 200, builtIn);
  return read(ctx, req, reply, type, id);
}

/** Built-in conformance resources cannot be changed through the API (they describe the code): 405. */
function writable(type: string, id: string): string {
  if (builtInResource(type, id)) {
    throw new OperationOutcomeError(
      405,
      [issue('error', 'not-supported', `${type}/${id} is a built-in conformance resource of this server: read-only`)],
      {
        Allow: 'GET, HEAD',
      },
    );
  }
  return type;
}

export const routes: Route[] = [
  {
    url: '',
    methods: {
      GET: { handler: (ctx, req, reply) => systemSearch(ctx, req, reply), interaction: 'search-system' },
      POST: { handler: (ctx, req, reply) => batchOrTransaction(ctx, req, reply), interaction: ['transaction', 'batch'] },
    },
  },
  { url: '/_search', methods: { POST: { handler: (ctx, req, reply) => systemSearch(ctx, req, reply) } } },
  { url: '/metadata', methods: { GET: { handler: (ctx, req, reply) => capabilities(ctx, req, reply, routedInteractions()) } } },
  { url: '/_history', methods: { GET: { handler: (ctx, req, reply) => history(ctx, req, reply), interaction: 'history-system' } } },
  {
    url: '/:type',
    methods: {
      GET: {
        handler: (ctx, req, reply, p) => (p.type?.startsWith('$') ? operation(ctx, req, reply, p.type) : search(ctx, req, reply, typeOf(p))),
        interaction: 'search-type',
      },
      POST: {
        handler: (ctx, req, reply, p) => (p.type?.startsWith('$') ? operation(ctx, req, reply, p.type) : create(ctx, req, reply, typeOf(p))),
        interaction: 'create',
      },
      PUT: { handler: (ctx, req, reply, p) => conditionalUpdate(ctx, req, reply, typeOf(p), needsCriteria(req, 'conditional update')) },
      PATCH: { handler: (ctx, req, reply, p) => conditionalPatch(ctx, req, reply, typeOf(p), needsCriteria(req, 'conditional patch')) },
      DELETE: { handler: (ctx, req, reply, p) => conditionalDelete(ctx, req, reply, typeOf(p), needsCriteria(req, 'conditional delete')) },
    },
  },
  { url: '/:type/_search', methods: { POST: { handler: (ctx, req, reply, p) => search(ctx, req, reply, typeOf(p)) } } },
  { url: '/:type/_history', methods: { GET: { handler: (ctx, req, reply, p) => history(ctx, req, reply, typeOf(p)), interaction: 'history-type' } } },
  {
    url: '/:type/:id',
    methods: {
      GET: {
        handler: (ctx, req, reply, p) =>
          p.id!.startsWith('$') ? operation(ctx, req, reply, p.id!, typeOf(p)) : readOrBuiltIn(ctx, req, reply, typeOf(p), p.id!),
        interaction: 'read',
      },
      POST: {
        handler: (ctx, req, reply, p) => {
          if (p.id!.startsWith('$')) return operation(ctx, req, reply, p.id!, typeOf(p));
          typeOf(p);
          throw new OperationOutcomeError(
            405,
            [issue('error', 'not-supported', 'POST to a resource instance URL is not a FHIR interaction; use PUT to update')],
            {
              Allow: 'GET, HEAD, PUT, PATCH, DELETE',
            },
          );
        },
      },
      PUT: { handler: (ctx, req, reply, p) => update(ctx, req, reply, writable(typeOf(p), p.id!), p.id!), interaction: 'update' },
      PATCH: { handler: (ctx, req, reply, p) => patch(ctx, req, reply, writable(typeOf(p), p.id!), p.id!), interaction: 'patch' },
      DELETE: { handler: (ctx, req, reply, p) => deleteResource(ctx, req, reply, writable(typeOf(p), p.id!), p.id!), interaction: 'delete' },
    },
  },
  {
    url: '/:type/:id/_history',
    methods: { GET: { handler: (ctx, req, reply, p) => history(ctx, req, reply, typeOf(p), p.id), interaction: 'history-instance' } },
  },
  {
    url: '/:type/:id/_history/:vid',
    methods: { GET: { handler: (ctx, req, reply, p) => vread(ctx, req, reply, typeOf(p), p.id!, p.vid!), interaction: 'vread' } },
  },
  {
    url: '/:type/:id/_history/:vid/:op',
    methods: {
      GET: { handler: (ctx, req, reply, p) => versionOperation(ctx, req, reply, p) },
      POST: { handler: (ctx, req, reply, p) => versionOperation(ctx, req, reply, p) },
    },
  },
  {
    url: '/:type/:id/:op',
    methods: {
      GET: { handler: (ctx, req, reply, p) => instanceOperation(ctx, req, reply, p) },
      POST: { handler: (ctx, req, reply, p) => instanceOperation(ctx, req, reply, p) },
    },
  },
];

let routed: Set<InteractionCode> | undefined;

/** The interactions the table routes: the CapabilityStatement claims these and no others. */
export function routedInteractions(): Set<InteractionCode> {
  if (!routed) {
    routed = new Set();
    for (const r of routes) for (const m of Object.values(r.methods)) for (const c of [m?.interaction ?? []].flat()) routed.add(c);
  }
  return routed;
}

/** `[type]/[id]/$op`, or a compartment search `[compartment]/[id]/[type]` (search.html#compartments). */
function instanceOperation(ctx: RestContext, req: FastifyRequest, reply: FastifyReply, p: Params): Promise<FastifyReply> {
  if (p.op && !p.op.startsWith('$') && isResourceType(p.op) && req.method === 'GET' && p.type && r4Model().compartments[p.type]) {
    return compartmentSearch(ctx, req, reply, p.type, p.id!, p.op);
  }
  if (!p.op?.startsWith('$')) throw notFound(`No FHIR endpoint at ${req.method} ${req.url.split('?')[0]}`);
  return operation(ctx, req, reply, p.op, typeOf(p), p.id);
}

/** `[type]/[id]/_history/[vid]/$op`: an operation on a historical version (resource-operations.html#meta). */
function versionOperation(ctx: RestContext, req: FastifyRequest, reply: FastifyReply, p: Params): Promise<FastifyReply> {
  if (!p.op?.startsWith('$')) throw notFound(`No FHIR endpoint at ${req.method} ${req.url.split('?')[0]}`);
  return operation(ctx, req, reply, p.op, typeOf(p), p.id, p.vid);
}

const ALL_METHODS: HTTPMethods[] = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

export function registerRoutes(app: FastifyInstance, ctx: RestContext, prefix: string): void {
  for (const route of routes) {
    const allowed = Object.keys(route.methods) as HTTPMethods[];
    const allow = [...allowed, ...(allowed.includes('GET') ? ['HEAD'] : [])].join(', ');
    app.route({
      method: ALL_METHODS,
      url: `${prefix}${route.url}`,
      handler: async (req, reply) => {
        const entry = route.methods[req.method as HTTPMethods];
        if (!entry) {
          throw new OperationOutcomeError(405, [issue('error', 'not-supported', `${req.method} is not allowed here; allowed: ${allow}`)], {
            Allow: allow,
          });
        }
        return entry.handler(ctx, req, reply, req.params as Params);
      },
    });
  }
}
