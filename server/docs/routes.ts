/**
 * The API documentation routes (public: outside the FHIR base, no token): `GET /docs` (the HTML index),
 * `GET /docs/[type]` (a resource type's page), `GET /docs/openapi.json` (OpenAPI 3.1) and `GET /docs/docs.css`. Both documents are generated from the
 * CapabilityStatement the server serves at /fhir/metadata and regenerated when it changes (a custom SearchParameter
 * becoming active).
 */
import type { FastifyInstance } from 'fastify';
import { loadConformance, OPERATION_DEFINITION_BASE } from '../conformance-load';
import type { JsonObject } from '../fhir/json';
import { capabilityStatementOf } from '../rest/capabilities';
import type { RestContext } from '../rest/context';
import { routedInteractions } from '../rest/router';
import { openApiOf } from './openapi';
import { DOCS_CSS, docsPage, resourcePage } from './page';

/** The server's OperationDefinition of a canonical URL (conformance/OperationDefinition). */
function definitionOf(url: string): JsonObject | undefined {
  return url.startsWith(OPERATION_DEFINITION_BASE)
    ? loadConformance().operationDefinitions.get(url.slice(OPERATION_DEFINITION_BASE.length))
    : undefined;
}

export function registerDocs(app: FastifyInstance, ctx: RestContext): void {
  let cached: { cs: JsonObject; openapi: string; page: string; types: Map<string, string> } | undefined;
  const current = () => {
    const cs = capabilityStatementOf(ctx, routedInteractions()) as JsonObject;
    if (cached?.cs !== cs) cached = { cs, openapi: JSON.stringify(openApiOf(cs, definitionOf)), page: docsPage(cs, definitionOf), types: new Map() };
    return cached;
  };
  app.get('/docs', async (_req, reply) => reply.type('text/html; charset=utf-8').header('Cache-Control', 'no-cache').send(current().page));
  app.get('/docs/openapi.json', async (_req, reply) => reply.type('application/json').header('Cache-Control', 'no-cache').send(current().openapi));
  app.get<{ Params: { type: string } }>('/docs/:type', async (req, reply) => {
    const c = current();
    const type = req.params.type;
    const page = c.types.get(type) ?? resourcePage(c.cs, definitionOf, type);
    if (page === undefined)
      return reply
        .code(404)
        .type('text/plain; charset=utf-8')
        .send(`No resource type '${type.slice(0, 64)}' on this server`);
    c.types.set(type, page); // only the statement's types: a bounded cache
    return reply.type('text/html; charset=utf-8').header('Cache-Control', 'no-cache').send(page);
  });
  app.get('/docs/docs.css', async (_req, reply) =>
    reply.type('text/css; charset=utf-8').header('Cache-Control', 'public, max-age=3600').send(DOCS_CSS),
  );
}
