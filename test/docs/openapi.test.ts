/**
 * /docs/openapi.json: an OpenAPI 3.1 document generated from the CapabilityStatement — valid by the OpenAPI 3.1
 * schema (@readme/openapi-parser), public, and saying what the statement says: every resource type's
 * interactions and search parameters, every operation at its levels, the SMART endpoints.
 */
import { type ValidationResult, compileErrors, validate as validateDocument } from '@readme/openapi-parser';
import { TEST_AUTH, useServer, type Json } from '../harness';

const server = useServer();
let doc: Json;
const validate = (d: Json): Promise<ValidationResult> => validateDocument(d as Parameters<typeof validateDocument>[0]);
let cs: Json;

beforeAll(async () => {
  const res = await fetch(`${server.origin}/docs/openapi.json`); // no token: the documentation is public
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('application/json');
  doc = (await res.json()) as Json;
  cs = (await server.request('GET', '/metadata')).body;
});

test('is a valid OpenAPI 3.1 document', async () => {
  expect(doc.openapi).toBe('3.1.0');
  const result = await validate(structuredClone(doc));
  if (!result.valid) throw new Error(compileErrors(result));
  expect(result.valid).toBe(true);
  // the validator does reject a broken document (it answers { valid: false }, it does not throw)
  const broken = structuredClone(doc);
  delete broken.info;
  broken.paths['/Patient'].get.responses = 'none';
  expect((await validate(broken)).valid).toBe(false);
});

test('every resource type: its interactions as paths, its search parameters as query parameters', () => {
  expect(doc.servers).toEqual([{ url: server.config.baseUrl, description: 'FHIR base' }]);
  const rest = cs.rest[0];
  const methodOf: Record<string, [string, string]> = {
    'search-type': ['/T', 'get'],
    create: ['/T', 'post'],
    read: ['/T/{id}', 'get'],
    update: ['/T/{id}', 'put'],
    patch: ['/T/{id}', 'patch'],
    delete: ['/T/{id}', 'delete'],
    'history-type': ['/T/_history', 'get'],
    'history-instance': ['/T/{id}/_history', 'get'],
    vread: ['/T/{id}/_history/{vid}', 'get'],
  };
  for (const r of rest.resource as Json[]) {
    for (const i of r.interaction) {
      const [p, m] = methodOf[i.code];
      const path = p.replace('T', r.type);
      expect({ path, m, there: Boolean(doc.paths[path]?.[m]) }).toEqual({ path, m, there: true });
    }
    const search = doc.paths[`/${r.type}`].get;
    const names = search.parameters.filter((p: Json) => p.in === 'query').map((p: Json) => p.name);
    for (const sp of r.searchParam)
      expect({ type: r.type, name: sp.name, listed: names.includes(sp.name) }).toEqual({ type: r.type, name: sp.name, listed: true });
    expect(search.responses['200'].content['application/fhir+json'].schema).toEqual({ $ref: '#/components/schemas/Bundle' });
    expect(doc.paths[`/${r.type}`].post.requestBody.content['application/fhir+json'].schema).toEqual({ $ref: `#/components/schemas/${r.type}` });
  }
  expect(doc.paths['/Basic'].get.parameters.map((p: Json) => p.name)).toContain('stock-location');
  expect(doc.paths['/ChargeItemDefinition'].get.parameters.map((p: Json) => p.name)).toEqual(expect.arrayContaining(['instance', 'code']));
  expect(doc.paths['/'].post.requestBody.content['application/fhir+json'].schema).toEqual({ $ref: '#/components/schemas/Bundle' });
});

test('every operation at the levels its OperationDefinition claims, GET only when it changes nothing', async () => {
  expect(doc.paths['/$export'].get).toBeDefined();
  expect(doc.paths['/Patient/$export'].get).toBeDefined();
  expect(doc.paths['/Group/{id}/$export'].post).toBeDefined();
  expect(doc.paths['/Group/$export']).toBeUndefined();
  expect(doc.paths['/$import'].post).toBeDefined();
  expect(doc.paths['/$import'].get).toBeUndefined(); // $import changes state: POST only
  expect(doc.paths['/SearchParameter/{id}/$reindex'].get).toBeUndefined();
  expect(doc.paths['/Patient/{id}/$everything'].get.parameters.map((p: Json) => p.name ?? p.$ref)).toEqual(
    expect.arrayContaining(['#/components/parameters/id', '_since', '_type', '_count']),
  );
  expect(doc.paths['/ValueSet/$expand'].get.parameters.map((p: Json) => p.name)).toEqual(['url', 'filter', 'count', 'offset']);
  // every operation of the statement is there
  const rest = cs.rest[0];
  for (const o of rest.operation) expect(doc.paths[`/$${o.name}`]?.post).toBeDefined();
  for (const r of rest.resource as Json[]) {
    for (const o of r.operation) {
      const od = (await server.request('GET', `/OperationDefinition/${o.definition.split('/').pop()}`)).body;
      const paths = [...(od.type ? [`/${r.type}/$${o.name}`] : []), ...(od.instance ? [`/${r.type}/{id}/$${o.name}`] : [])];
      expect(paths.length).toBeGreaterThan(0);
      for (const p of paths)
        expect({ p, post: Boolean(doc.paths[p]?.post), get: Boolean(doc.paths[p]?.get) }).toEqual({ p, post: true, get: !od.affectsState });
    }
  }
});

(TEST_AUTH === 'smart' ? test : test.skip)('security: OAuth 2.0 with the SMART endpoints of the CapabilityStatement', async () => {
  const uris = cs.rest[0].security.extension.find((e: Json) => e.url.endsWith('oauth-uris')).extension;
  const uri = (n: string) => uris.find((e: Json) => e.url === n).valueUri;
  const smart = doc.components.securitySchemes.smart;
  expect(smart.type).toBe('oauth2');
  expect(smart.flows.authorizationCode.authorizationUrl).toBe(uri('authorize'));
  expect(smart.flows.authorizationCode.tokenUrl).toBe(uri('token'));
  expect(smart.flows.clientCredentials.tokenUrl).toBe(uri('token'));
  expect(doc.security).toEqual([{ smart: [] }]);
  expect(doc.paths['/metadata'].get.security).toEqual([]); // metadata needs no token
  // the endpoints are the server's real ones
  const config = (await (await fetch(`${server.base}/.well-known/smart-configuration`)).json()) as Json;
  expect(config.authorization_endpoint).toBe(uri('authorize'));
  expect(config.token_endpoint).toBe(uri('token'));
});

test('/docs is public HTML listing every resource type', async () => {
  const res = await fetch(`${server.origin}/docs`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/html');
  expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
  const html = await res.text();
  for (const r of cs.rest[0].resource as Json[]) expect(html).toContain(`<li><a href="/docs/${r.type}">${r.type}</a></li>`);
  const patient = await (await fetch(`${server.origin}/docs/Patient`)).text();
  for (const sp of (cs.rest[0].resource as Json[]).find((r) => r.type === 'Patient')!.searchParam)
    expect(patient).toContain(`<code>${sp.name}</code>`);
  expect((await fetch(`${server.origin}/docs/NoSuchType`)).status).toBe(404);
  expect((await fetch(`${server.origin}/docs/docs.css`)).headers.get('content-type')).toContain('text/css');
});
