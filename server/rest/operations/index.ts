/**
 * The operation registry: every $operation the server implements, with the levels it runs at and its
 * OperationDefinition (conformance/OperationDefinition/[id].json, `https://arogya.dev/fhir/OperationDefinition/[id]`;
 * a standard operation's definition names the published one in `base`). The router dispatches from it and the
 * CapabilityStatement is generated from it; test/conformance/definitions.test.ts keeps the two in step.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { RestContext } from '../context';
import { HMS_BASE } from '../../profiles-load';
import { exportOperation } from './export';
import { importOperation } from './import';
import { everythingOperation } from './everything';
import { getWsBindingTokenOperation } from './get-ws-binding-token';
import { metaChangeOperation, metaOperation } from './meta';
import { reindexOperation, reindexStatusOperation } from './reindex';
import { snapshotOperation } from './snapshot';
import { expandOperation, lookupOperation, validateCodeOperation } from './terminology';
import { validateOperation } from './validate';

export interface OperationHandler {
  name: string;
  definition: string;
  /** Levels it can be invoked at. */
  type: boolean;
  instance: boolean;
  system: boolean;
  /** The resource types its type/instance levels are defined on; undefined = every resource type. */
  types?: string[];
  /** Also at `[type]/[id]/_history/[vid]/$op` (a historical version; the meta operations). */
  version?: boolean;
  /** Methods allowed (operations that change nothing also allow GET). */
  methods: ('GET' | 'POST')[];
  handle(ctx: RestContext, req: FastifyRequest, reply: FastifyReply, type?: string, id?: string, vid?: string): Promise<FastifyReply>;
}

/** The canonical URL of the server's OperationDefinition `id` (conformance/OperationDefinition/[id].json). */
const def = (id: string): string => `${HMS_BASE}/OperationDefinition/${id}`;

export const operations: OperationHandler[] = [
  {
    name: 'validate',
    definition: def('Resource-validate'),
    type: true,
    instance: true,
    system: false,
    methods: ['GET', 'POST'],
    handle: (ctx, req, reply, type, id) => validateOperation(ctx, req, reply, type!, id),
  },
  // Terminology (terminology.ts): at type level with url/system, or on an instance
  {
    name: 'expand',
    definition: def('ValueSet-expand'),
    type: true,
    instance: true,
    system: false,
    types: ['ValueSet'],
    methods: ['GET', 'POST'],
    handle: (ctx, req, reply, _type, id) => expandOperation(ctx, req, reply, id),
  },
  {
    name: 'validate-code',
    definition: def('ValueSet-validate-code'),
    type: true,
    instance: true,
    system: false,
    types: ['ValueSet'],
    methods: ['GET', 'POST'],
    handle: (ctx, req, reply, _type, id) => validateCodeOperation(ctx, req, reply, id),
  },
  {
    name: 'lookup',
    definition: def('CodeSystem-lookup'),
    type: true,
    instance: true,
    system: false,
    types: ['CodeSystem'],
    methods: ['GET', 'POST'],
    handle: (ctx, req, reply, _type, id) => lookupOperation(ctx, req, reply, id),
  },
  {
    name: 'snapshot',
    definition: def('StructureDefinition-snapshot'),
    type: true,
    instance: true,
    system: false,
    types: ['StructureDefinition'],
    methods: ['GET', 'POST'],
    handle: (ctx, req, reply, _type, id) => snapshotOperation(ctx, req, reply, id),
  },
  // Bulk Data Access 2.0: [base]/$export, [base]/Patient/$export, [base]/Group/[id]/$export (three definitions;
  // the system one first: findOperation falls back to it when no type is given)
  ...(
    [
      ['export', { system: true }],
      ['Patient-export', { type: true, types: ['Patient'] }],
      ['Group-export', { instance: true, types: ['Group'] }],
    ] as const
  ).map(
    ([id, at]): OperationHandler => ({
      name: 'export',
      definition: def(id),
      type: false,
      instance: false,
      system: false,
      ...at,
      types: 'types' in at ? [...at.types] : undefined,
      methods: ['GET', 'POST'],
      handle: (ctx, req, reply, type, id) => exportOperation(ctx, req, reply, type, id),
    }),
  ),
  {
    name: 'import',
    definition: def('import'), // no published OperationDefinition for a bulk import yet
    type: false,
    instance: false,
    system: true,
    methods: ['POST'],
    handle: (ctx, req, reply) => importOperation(ctx, req, reply),
  },
  // Custom search parameters: SearchParameter/[id]/$reindex (start over) and $reindex-status (progress)
  {
    name: 'reindex',
    definition: def('SearchParameter-reindex'),
    type: false,
    instance: true,
    system: false,
    types: ['SearchParameter'],
    methods: ['POST'],
    handle: (ctx, req, reply, _type, id) => reindexOperation(ctx, req, reply, id!),
  },
  {
    name: 'reindex-status',
    definition: def('SearchParameter-reindex-status'),
    type: false,
    instance: true,
    system: false,
    types: ['SearchParameter'],
    methods: ['GET'],
    handle: (ctx, req, reply, _type, id) => reindexStatusOperation(ctx, req, reply, id!),
  },
  // Profiles, tags and security labels: $meta at every level, $meta-add/$meta-delete on an instance (meta.ts)
  {
    name: 'meta',
    definition: def('Resource-meta'),
    type: true,
    instance: true,
    system: true,
    version: true,
    methods: ['GET', 'POST'],
    handle: (ctx, req, reply, type, id, vid) => metaOperation(ctx, req, reply, type, id, vid),
  },
  ...(['add', 'delete'] as const).map(
    (mode): OperationHandler => ({
      name: `meta-${mode}`,
      definition: def(`Resource-meta-${mode}`),
      type: false,
      instance: true,
      system: false,
      version: true,
      methods: ['POST'],
      handle: (ctx, req, reply, type, id, vid) => metaChangeOperation(mode)(ctx, req, reply, type!, id!, vid),
    }),
  ),
  // Subscription/[id]/$get-ws-binding-token and Subscription/$get-ws-binding-token?id=…: websocket binding tokens
  {
    name: 'get-ws-binding-token',
    definition: def('Subscription-get-ws-binding-token'),
    type: true,
    instance: true,
    system: false,
    types: ['Subscription'],
    methods: ['GET', 'POST'],
    handle: (ctx, req, reply, _type, id) => getWsBindingTokenOperation(ctx, req, reply, id),
  },
  // Patient/[id]/$everything and Encounter/[id]/$everything: the compartment and what it references
  ...(['Patient', 'Encounter'] as const).map(
    (t): OperationHandler => ({
      name: 'everything',
      definition: def(`${t}-everything`),
      type: false,
      instance: true,
      system: false,
      types: [t],
      methods: ['GET', 'POST'],
      handle: (ctx, req, reply, type, id) => everythingOperation(ctx, req, reply, type!, id!),
    }),
  ),
];

/** The operation called `name` (`$everything`); where several are defined per resource type, the one for `type`. */
export function findOperation(name: string, type?: string): OperationHandler | undefined {
  const named = operations.filter((o) => `$${o.name}` === name);
  return named.find((o) => type !== undefined && o.types?.includes(type)) ?? named[0];
}
