/**
 * capabilities — https://hl7.org/fhir/R4/http.html#capabilities: `GET [base]/metadata` returns a
 * CapabilityStatement generated from what the server routes and indexes (router.ts, the search parameter
 * registry, the operation registry, the R4 model) — never a hand-written claim. `?mode=terminology` is not
 * supported (400); `mode=full` and `normative` return the same statement.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { r4Model } from '../fhir/definitions';
import { badRequest } from '../fhir/outcome';
import { indexedParams } from '../fhir/search/registry';
import type { RestContext } from './context';
import { checkParams, negotiate, queryValue, sendJson, type Query } from './http';
import { operations } from './operations';
import { routes, type InteractionCode } from './router';
import { VERSION } from '../version';

const started = new Date().toISOString();

const TYPE_LEVEL: InteractionCode[] = ['read', 'vread', 'update', 'patch', 'delete', 'history-instance', 'history-type', 'create', 'search-type'];

function routedInteractions(): Set<InteractionCode> {
  const out = new Set<InteractionCode>();
  for (const r of routes) for (const m of Object.values(r.methods)) if (m?.interaction) out.add(m.interaction);
  return out;
}

function docFor(code: string): string {
  switch (code) {
    case '_id':
      return 'Logical id of the resource';
    case '_lastUpdated':
      return 'When the resource version last changed (prefixes eq ne gt lt ge le sa eb ap)';
    default:
      return `${code} (token: system|code, |code, code, system|)`;
  }
}

export function buildCapabilityStatement(ctx: RestContext): Record<string, unknown> {
  const routed = routedInteractions();
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
    searchParam: [
      { name: '_id', definition: 'http://hl7.org/fhir/SearchParameter/Resource-id', type: 'token', documentation: docFor('_id') },
      { name: '_lastUpdated', definition: 'http://hl7.org/fhir/SearchParameter/Resource-lastUpdated', type: 'date', documentation: docFor('_lastUpdated') },
      ...indexedParams(type).map((p) => ({ name: p.code, definition: p.url, type: p.type, documentation: docFor(p.code) })),
    ],
    operation: typeOps.map((o) => ({ name: o.name, definition: o.definition })),
  }));
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: started,
    publisher: 'Arogya',
    kind: 'instance',
    software: { name: 'Arogya', version: VERSION },
    implementation: { description: 'Arogya FHIR R4 server', url: ctx.config.baseUrl },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json', 'application/json'],
    patchFormat: ['application/json-patch+json', 'application/fhir+json'],
    rest: [
      {
        mode: 'server',
        documentation: `Referential integrity is ${ctx.config.referentialIntegrity ? 'enforced' : 'off'}; dates without a time zone are taken in ${ctx.config.timeZone}.`,
        resource: resources,
        interaction: (['history-system', 'search-system', 'transaction', 'batch'] as InteractionCode[])
          .filter((c) => routed.has(c))
          .map((code) => ({ code })),
        operation: operations.filter((o) => o.system).map((o) => ({ name: o.name, definition: o.definition })),
      },
    ],
  };
}

let cached: { key: string; text: Record<string, unknown> } | undefined;

export async function capabilities(ctx: RestContext, req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  negotiate(req);
  checkParams(req, ['mode'], 'metadata');
  const mode = queryValue(req.query as Query, 'mode');
  if (mode !== undefined && mode !== 'full' && mode !== 'normative') {
    throw badRequest(`metadata mode '${mode}' is not supported (full, normative)`, 'mode');
  }
  const key = ctx.config.baseUrl;
  if (!cached || cached.key !== key) cached = { key, text: buildCapabilityStatement(ctx) };
  return sendJson(req, reply, 200, cached.text);
}
