/**
 * capabilities — https://hl7.org/fhir/R4/http.html#capabilities: `GET [base]/metadata` returns a
 * CapabilityStatement generated from what the server routes and indexes (router.ts, the search parameter
 * registry, the operation registry, the R4 model) — never a hand-written claim; only its names, texts and formats
 * come from conformance/capability-statement.json. `?mode=terminology` is not
 * supported (400); `mode=full` and `normative` return the same statement.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { r4Model } from '../fhir/definitions';
import { badRequest } from '../fhir/outcome';
import { PREFIXED_TYPES, SORTABLE_TYPES, modifiersOf, registryGeneration, searchParams, type ActiveSearchParam } from '../fhir/search/registry';
import type { RestContext } from './context';
import { checkParams, queryValue, sendJson, type Query } from './http';
import { operations } from './operations';
import { VERSION } from '../version';
import { authEndpoints } from '../auth/services';
import { loadConformance } from '../conformance-load';
import { isJsonObject } from '../fhir/json';

const started = new Date().toISOString();

/** FHIR restful interaction codes (CapabilityStatement.rest.resource.interaction.code). */
export type InteractionCode =
  | 'read'
  | 'vread'
  | 'update'
  | 'patch'
  | 'delete'
  | 'history-instance'
  | 'history-type'
  | 'create'
  | 'search-type'
  | 'history-system'
  | 'search-system'
  | 'transaction'
  | 'batch';

const TYPE_LEVEL: InteractionCode[] = ['read', 'vread', 'update', 'patch', 'delete', 'history-instance', 'history-type', 'create', 'search-type'];

const PREFIXES = 'prefixes eq ne gt lt ge le sa eb ap';

function docFor(p: ActiveSearchParam): string {
  if (p.code === '_id') return 'Logical id of the resource (token; comma = OR)';
  if (p.code === '_lastUpdated') return `When the resource version last changed (date; ${PREFIXES}; sortable)`;
  if (p.code === '_text' || p.code === '_content')
    return `${p.code === '_text' ? 'Narrative' : 'Every string of the resource'}: full-text words, all present`;
  const mods = modifiersOf(p).map((m) => `:${m}`);
  const parts: string[] = [p.type];
  if (mods.length) parts.push(`modifiers ${mods.join(' ')}`);
  if (PREFIXED_TYPES.has(p.type)) parts.push(PREFIXES);
  if (p.type === 'reference') parts.push('chaining (.param) and :[type]');
  if (SORTABLE_TYPES.has(p.type)) parts.push('sortable');
  return `${p.code} (${parts.join('; ')})`;
}

/** Every search parameter of a type, as CapabilityStatement.rest.resource.searchParam. */
function searchParamsFor(type: string): Record<string, unknown>[] {
  const special = [
    { name: '_list', type: 'special', documentation: 'Resources referenced by the items of List/[id]' },
    { name: '_has', type: 'special', documentation: 'Reverse chaining: _has:Type:reference:parameter=value (nested _has allowed)' },
  ];
  return [...searchParams(type).map((p) => ({ name: p.code, definition: p.url, type: p.type, documentation: docFor(p) })), ...special];
}

let revIncludes: Map<string, string[]> | undefined;
let revIncludesGeneration = -1;

/** `Source:param` for every reference parameter that can point at each type (searchRevInclude). */
function revIncludesOf(type: string): string[] {
  if (!revIncludes || revIncludesGeneration !== registryGeneration()) {
    revIncludesGeneration = registryGeneration();
    revIncludes = new Map();
    for (const source of r4Model().resourceTypes) {
      for (const p of searchParams(source)) {
        if (p.type !== 'reference') continue;
        for (const t of p.target ?? []) {
          if (!revIncludes.has(t)) revIncludes.set(t, []);
          revIncludes.get(t)!.push(`${source}:${p.code}`);
        }
      }
    }
  }
  return revIncludes.get(type) ?? [];
}

/** What a Subscription client needs to know (events/subscriptions/, README "FHIR Subscriptions"). */
const SUBSCRIPTION_DOCUMENTATION =
  'R4 criteria-based subscriptions: submit status `requested` (stored as `active`) or `off`; criteria are checked by the search ' +
  'parser (unknown parameter: 400). Channels `rest-hook` (payload none: POST to the endpoint with an empty body; ' +
  '`application/fhir+json`: PUT [endpoint]/[type]/[id] with the version) and `websocket`. Every rest-hook notification carries ' +
  '`X-Arogya-Resource: [type]/[id]/_history/[versionId]` for deduplication (delivery is at least once); failed notifications are ' +
  'retried with exponential backoff, then the subscription is set to `error` with the reason. Notifications never include what ' +
  "the subscription owner's access would not let it read; deletions are not notified. Endpoints on internal addresses are refused.";

/** The statement of a server routing the interactions `routed` (the router's table: it passes them in). */
export function buildCapabilityStatement(ctx: RestContext, routed: ReadonlySet<InteractionCode>): Record<string, unknown> {
  const typeOps = operations.filter((o) => o.type || o.instance);
  const resources = r4Model().resourceTypes.map((type) => ({
    type,
    profile: `http://hl7.org/fhir/StructureDefinition/${type}`,
    interaction: TYPE_LEVEL.filter((c) => routed.has(c)).map((code) => ({ code })),
    versioning: 'versioned-update',
    readHistory: true,
    updateCreate: true,
    conditionalCreate: true,
    conditionalRead: 'full-support',
    conditionalUpdate: true,
    conditionalDelete: 'multiple',
    referencePolicy: ['literal', 'local', 'enforced'],
    ...(type === 'Subscription' ? { documentation: SUBSCRIPTION_DOCUMENTATION } : {}),
    searchInclude: [
      '*',
      ...searchParams(type)
        .filter((p) => p.type === 'reference')
        .map((p) => `${type}:${p.code}`),
    ],
    searchRevInclude: revIncludesOf(type),
    searchParam: searchParamsFor(type),
    operation: typeOps.filter((o) => !o.types || o.types.includes(type)).map((o) => ({ name: o.name, definition: o.definition })),
  }));
  // The static parts (names, texts, formats) come from conformance/capability-statement.json; the rest is generated.
  const fixed = loadConformance().capabilityStatement;
  const fixedRest = Array.isArray(fixed.rest) && isJsonObject(fixed.rest[0]) ? fixed.rest[0] : {};
  const { security: fixedSecurity, ...restTexts } = fixedRest;
  return {
    ...fixed,
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: started,
    kind: 'instance',
    software: { ...(isJsonObject(fixed.software) ? fixed.software : {}), name: 'Arogya', version: VERSION },
    implementation: { ...(isJsonObject(fixed.implementation) ? fixed.implementation : {}), url: ctx.config.baseUrl },
    fhirVersion: '4.0.1',
    rest: [
      {
        ...restTexts,
        mode: 'server',
        // the websocket channel of Subscriptions (events/subscriptions/websocket.ts)
        ...(ctx.wsBindingTokens
          ? {
              extension: [
                { url: 'http://hl7.org/fhir/StructureDefinition/capabilitystatement-websocket', valueUri: ctx.wsBindingTokens.websocketUrl },
              ],
            }
          : {}),
        documentation: `Referential integrity is ${ctx.config.referentialIntegrity ? 'enforced' : 'off'}; dates without a time zone are taken in ${ctx.config.timeZone}.`,
        ...(ctx.config.auth === 'smart'
          ? {
              security: {
                ...smartSecurity(ctx),
                ...(isJsonObject(fixedSecurity) && fixedSecurity.description ? { description: fixedSecurity.description } : {}),
              },
            }
          : {}),
        resource: resources,
        interaction: (['history-system', 'search-system', 'transaction', 'batch'] as InteractionCode[])
          .filter((c) => routed.has(c))
          .map((code) => ({ code })),
        operation: operations.filter((o) => o.system).map((o) => ({ name: o.name, definition: o.definition })),
      },
    ],
  };
}

/** rest.security (SMART App Launch 2.2 §"conformance"): the SMART service and the oauth-uris extension. */
function smartSecurity(ctx: RestContext): Record<string, unknown> {
  const e = authEndpoints(ctx.config);
  const uri = (url: string, valueUri: string) => ({ url, valueUri });
  return {
    cors: true,
    service: [
      {
        coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR', display: 'SMART-on-FHIR' }],
        text: 'OAuth2 using SMART-on-FHIR profile (see http://docs.smarthealthit.org)',
      },
    ],
    extension: [
      {
        url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris',
        extension: [
          uri('authorize', e.authorize),
          uri('token', e.token),
          uri('introspect', e.introspect),
          uri('revoke', e.revoke),
          uri('register', e.register),
        ],
      },
    ],
    description: 'SMART App Launch 2.2: discovery at [base]/.well-known/smart-configuration; every request needs a bearer token.',
  };
}

let cached: { key: string; text: Record<string, unknown> } | undefined;

export async function capabilities(
  ctx: RestContext,
  req: FastifyRequest,
  reply: FastifyReply,
  routed: ReadonlySet<InteractionCode>,
): Promise<FastifyReply> {
  checkParams(req, ['mode'], 'metadata');
  const mode = queryValue(req.query as Query, 'mode');
  if (mode !== undefined && mode !== 'full' && mode !== 'normative') {
    throw badRequest(`metadata mode '${mode}' is not supported (full, normative)`, 'mode');
  }
  return sendJson(req, reply, 200, capabilityStatementOf(ctx, routed));
}

/** The statement, rebuilt when custom SearchParameters change it (become active, or are deleted); also for /docs. */
export function capabilityStatementOf(ctx: RestContext, routed: ReadonlySet<InteractionCode>): Record<string, unknown> {
  const key = `${ctx.config.baseUrl}#${ctx.config.auth}#${registryGeneration()}`;
  if (!cached || cached.key !== key) cached = { key, text: buildCapabilityStatement(ctx, routed) };
  return cached.text;
}
