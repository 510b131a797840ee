/**
 * The OpenAPI 3.1 description of the FHIR API, generated from the CapabilityStatement (what the server routes,
 * indexes and implements) and the OperationDefinitions it names (conformance/) — nothing here is written by hand
 * per resource type. No I/O.
 *
 * - a path per resource type and interaction the statement lists (search, create, read, update, patch, delete,
 *   history, vread, `_search`), and the system interactions (batch/transaction, system search and history);
 * - the type's search parameters as query parameters (with the statement's documentation: type, modifiers,
 *   prefixes), plus the result parameters every search takes (`_count`, `_sort`, `_include`, …);
 * - each operation at the levels its OperationDefinition claims: GET with its primitive `in` parameters as query
 *   parameters when it changes nothing, POST with a Parameters body;
 * - security: OAuth 2.0 with the SMART endpoints of `rest.security` (authorization code and client credentials).
 */
import type { JsonObject } from '../fhir/json';

type Json = Record<string, unknown>;

const FHIR_JSON = 'application/fhir+json';
const OAUTH_URIS = 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris';

/** The SMART scopes named in the description (the token endpoint grants these forms; see README "Authorization"). */
const SCOPES: Record<string, string> = {
  openid: 'OpenID Connect sign-in (an id_token)',
  fhirUser: 'The signed-in user as a FHIR resource',
  launch: 'EHR launch context',
  'launch/patient': 'Pick a patient at sign-in (standalone launch)',
  offline_access: 'A refresh token that outlives the session',
  'patient/*.rs': "Read and search the patient's compartment",
  'user/*.cruds': 'Everything the user may do',
  'system/*.cruds': 'Backend services: everything (client credentials)',
};

const asArray = (v: unknown): Json[] => (Array.isArray(v) ? (v as Json[]) : []);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

function fhirContent(schema: Json): Json {
  return { [FHIR_JSON]: { schema } };
}
const ref = (name: string): Json => ({ $ref: `#/components/schemas/${name}` });
const param = (name: string): Json => ({ $ref: `#/components/parameters/${name}` });

function ok(description: string, schema: Json): Json {
  return { description, content: fhirContent(schema) };
}

const ERRORS: Json = {
  '4XX': { $ref: '#/components/responses/Error' },
  '5XX': { $ref: '#/components/responses/Error' },
};

/** Resource types whose schema is named in the document (one component each). */
function resourceSchema(type: string): Json {
  return {
    type: 'object',
    description: `A FHIR R4 ${type} (https://hl7.org/fhir/R4/${type.toLowerCase()}.html).`,
    properties: { resourceType: { const: type }, id: { type: 'string' }, meta: { type: 'object' } },
    required: ['resourceType'],
    additionalProperties: true,
  };
}

/** The primitive FHIR types a GET query parameter can carry. */
const PRIMITIVES = new Set([
  'string',
  'code',
  'uri',
  'url',
  'canonical',
  'id',
  'integer',
  'decimal',
  'boolean',
  'date',
  'dateTime',
  'instant',
  'positiveInt',
  'unsignedInt',
]);

function primitiveSchema(fhirType: string): Json {
  if (fhirType === 'integer' || fhirType === 'positiveInt' || fhirType === 'unsignedInt') return { type: 'integer' };
  if (fhirType === 'decimal') return { type: 'number' };
  if (fhirType === 'boolean') return { type: 'boolean' };
  return { type: 'string' };
}

function operationPaths(
  paths: Record<string, Json>,
  od: JsonObject,
  name: string,
  level: 'system' | 'type' | 'instance',
  type: string | undefined,
  tag: string,
  schemaOf: (type: string) => Json | undefined,
): void {
  const path = level === 'system' ? `/$${name}` : level === 'type' ? `/${type}/$${name}` : `/${type}/{id}/$${name}`;
  const ins = asArray(od.parameter).filter((p) => p.use === 'in');
  const outs = asArray(od.parameter).filter((p) => p.use === 'out');
  // one `return` that is a resource comes back as itself; anything else in a Parameters (operations.html#response)
  const single = outs.length === 1 && outs[0]!.name === 'return' ? schemaOf(str(outs[0]!.type)) : undefined;
  const responses: Json = {
    '200': ok(single ? `The result (${str(outs[0]!.type)})` : 'The result (Parameters)', single ?? schemaOf('Parameters')!),
    ...(/202 Accepted/.test(str(od.description)) ? { '202': { description: "Accepted: the job's status URL is in Content-Location" } } : {}),
    ...ERRORS,
  };
  const summary = `${str(od.title) || `$${name}`}`;
  const description = `${str(od.description)}\n\nOperationDefinition: ${str(od.url)}${od.base ? ` (based on ${str(od.base)})` : ''}`;
  const idParam = level === 'instance' ? [param('id')] : [];
  const opId = `${level}-${type ?? 'system'}-${name}`;
  const item: Json = paths[path] ?? {};
  if (od.affectsState !== true) {
    item.get = {
      tags: [tag],
      summary,
      description,
      operationId: `${opId}-get`,
      parameters: [
        ...idParam,
        ...ins
          .filter((p) => PRIMITIVES.has(str(p.type)))
          .map((p) => ({
            name: str(p.name),
            in: 'query',
            required: false,
            description: str(p.documentation),
            ...(p.max === '*'
              ? { schema: { type: 'array', items: primitiveSchema(str(p.type)) }, style: 'form', explode: true }
              : { schema: primitiveSchema(str(p.type)) }),
          })),
      ],
      responses,
    };
  }
  item.post = {
    tags: [tag],
    summary,
    description,
    operationId: `${opId}-post`,
    parameters: idParam,
    requestBody: {
      required: false,
      description: `A Parameters resource with the in parameters: ${ins.map((p) => str(p.name)).join(', ') || 'none'}.`,
      content: fhirContent(ref('Parameters')),
    },
    responses,
  };
  paths[path] = item;
}

const RESULT_PARAMS = ['_count', '_sort', '_include', '_revinclude', '_summary', '_elements', '_total', '_contained'];

/** The OpenAPI 3.1 document of a CapabilityStatement; `definitions` resolves its operations' OperationDefinitions by URL. */
export function openApiOf(cs: JsonObject, definitions: (url: string) => JsonObject | undefined): Json {
  const rest = asArray(cs.rest)[0] ?? {};
  const paths: Record<string, Json> = {};
  const schemas: Record<string, Json> = {
    Resource: {
      type: 'object',
      description: 'Any FHIR R4 resource (https://hl7.org/fhir/R4/resource.html).',
      properties: { resourceType: { type: 'string' }, id: { type: 'string' }, meta: { type: 'object' } },
      required: ['resourceType'],
      additionalProperties: true,
    },
  };
  const resourceTypes = new Set(asArray(rest.resource).map((r) => str(r.type)));
  /** A reference to the schema of a resource type (added on first use), or undefined for a data type. */
  const schemaOf = (type: string): Json | undefined => {
    if (type !== 'Resource' && !resourceTypes.has(type)) return undefined;
    if (type !== 'Resource') schemas[type] ??= resourceSchema(type);
    return ref(type);
  };
  for (const t of ['Bundle', 'OperationOutcome', 'Parameters', 'CapabilityStatement']) schemaOf(t);
  const tags: Json[] = [{ name: 'System', description: 'Whole-server interactions and operations' }];

  // system level
  const sys = new Set(asArray(rest.interaction).map((i) => str(i.code)));
  paths['/metadata'] = {
    get: {
      tags: ['System'],
      summary: 'The CapabilityStatement',
      operationId: 'capabilities',
      security: [],
      responses: { '200': ok('The CapabilityStatement', ref('CapabilityStatement')), ...ERRORS },
    },
  };
  if (sys.has('transaction') || sys.has('batch')) {
    paths['/'] = {
      post: {
        tags: ['System'],
        summary: 'Batch or transaction',
        operationId: 'batch-transaction',
        requestBody: { required: true, content: fhirContent(ref('Bundle')) },
        responses: { '200': ok('The response Bundle', ref('Bundle')), ...ERRORS },
      },
    };
  }
  if (sys.has('search-system')) {
    paths['/'] = {
      ...(paths['/'] ?? {}),
      get: {
        tags: ['System'],
        summary: 'Search all resource types',
        operationId: 'search-system',
        parameters: [param('_type'), ...RESULT_PARAMS.map(param)],
        responses: { '200': ok('A searchset Bundle', ref('Bundle')), ...ERRORS },
      },
    };
  }
  if (sys.has('history-system')) {
    paths['/_history'] = {
      get: {
        tags: ['System'],
        summary: 'History of every resource',
        operationId: 'history-system',
        parameters: [param('_since'), param('_count')],
        responses: { '200': ok('A history Bundle', ref('Bundle')), ...ERRORS },
      },
    };
  }
  for (const op of asArray(rest.operation)) {
    const od = definitions(str(op.definition));
    if (od) operationPaths(paths, od, str(op.name), 'system', undefined, 'System', schemaOf);
  }

  for (const r of asArray(rest.resource)) {
    const type = str(r.type);
    const codes = new Set(asArray(r.interaction).map((i) => str(i.code)));
    tags.push({ name: type, description: `https://hl7.org/fhir/R4/${type.toLowerCase()}.html` });
    const schema = schemaOf(type)!;
    const typePath: Json = {};
    const instancePath: Json = {};
    const searchParams = asArray(r.searchParam).map((p) => ({
      name: str(p.name),
      in: 'query',
      required: false,
      description: `${str(p.documentation)}${p.definition ? ` — ${str(p.definition)}` : ''}`,
      schema: { type: 'string' },
    }));
    const tagged = { tags: [type] };
    if (codes.has('search-type')) {
      typePath.get = {
        ...tagged,
        summary: `Search ${type}`,
        description: 'Search parameters take modifiers (`name:modifier=`) and, where their type allows, prefixes; see each parameter.',
        operationId: `search-${type}`,
        parameters: [...searchParams, ...RESULT_PARAMS.map(param)],
        responses: { '200': ok('A searchset Bundle', ref('Bundle')), ...ERRORS },
      };
      paths[`/${type}/_search`] = {
        post: {
          ...tagged,
          summary: `Search ${type} (parameters in the body)`,
          operationId: `search-post-${type}`,
          requestBody: {
            required: false,
            content: { 'application/x-www-form-urlencoded': { schema: { type: 'object', additionalProperties: { type: 'string' } } } },
          },
          responses: { '200': ok('A searchset Bundle', ref('Bundle')), ...ERRORS },
        },
      };
    }
    if (codes.has('create')) {
      typePath.post = {
        ...tagged,
        summary: `Create a ${type}`,
        description: 'Conditional create with `If-None-Exist: [search parameters]`.',
        operationId: `create-${type}`,
        parameters: [param('If-None-Exist'), param('Prefer')],
        requestBody: { required: true, content: fhirContent(schema) },
        responses: {
          '201': ok('Created (Location names the new version)', schema),
          '200': ok('An existing match (conditional create)', schema),
          ...ERRORS,
        },
      };
    }
    if (Object.keys(typePath).length) paths[`/${type}`] = typePath;
    if (codes.has('read')) {
      instancePath.get = {
        ...tagged,
        summary: `Read a ${type}`,
        operationId: `read-${type}`,
        parameters: [param('id'), param('_summary'), param('_elements'), param('If-None-Match')],
        responses: { '200': ok(`The ${type}`, schema), '304': { description: 'Not modified' }, ...ERRORS },
      };
    }
    if (codes.has('update')) {
      instancePath.put = {
        ...tagged,
        summary: `Update (or create) a ${type}`,
        operationId: `update-${type}`,
        parameters: [param('id'), param('If-Match'), param('Prefer')],
        requestBody: { required: true, content: fhirContent(schema) },
        responses: { '200': ok('Updated', schema), '201': ok('Created', schema), ...ERRORS },
      };
    }
    if (codes.has('patch')) {
      instancePath.patch = {
        ...tagged,
        summary: `Patch a ${type}`,
        operationId: `patch-${type}`,
        parameters: [param('id'), param('If-Match'), param('Prefer')],
        requestBody: {
          required: true,
          content: {
            'application/json-patch+json': { schema: { type: 'array', items: { type: 'object' } } },
            [FHIR_JSON]: { schema: ref('Parameters') },
          },
        },
        responses: { '200': ok('Patched', schema), ...ERRORS },
      };
    }
    if (codes.has('delete')) {
      instancePath.delete = {
        ...tagged,
        summary: `Delete a ${type}`,
        operationId: `delete-${type}`,
        parameters: [param('id')],
        responses: { '204': { description: 'Deleted' }, '200': ok('Deleted, with an OperationOutcome', ref('OperationOutcome')), ...ERRORS },
      };
    }
    if (Object.keys(instancePath).length) paths[`/${type}/{id}`] = instancePath;
    if (codes.has('history-type')) {
      paths[`/${type}/_history`] = {
        get: {
          ...tagged,
          summary: `History of every ${type}`,
          operationId: `history-type-${type}`,
          parameters: [param('_since'), param('_count')],
          responses: { '200': ok('A history Bundle', ref('Bundle')), ...ERRORS },
        },
      };
    }
    if (codes.has('history-instance')) {
      paths[`/${type}/{id}/_history`] = {
        get: {
          ...tagged,
          summary: `History of a ${type}`,
          operationId: `history-instance-${type}`,
          parameters: [param('id'), param('_since'), param('_count')],
          responses: { '200': ok('A history Bundle', ref('Bundle')), ...ERRORS },
        },
      };
    }
    if (codes.has('vread')) {
      paths[`/${type}/{id}/_history/{vid}`] = {
        get: {
          ...tagged,
          summary: `A version of a ${type}`,
          operationId: `vread-${type}`,
          parameters: [param('id'), param('vid')],
          responses: { '200': ok(`The ${type} version`, schema), ...ERRORS },
        },
      };
    }
    for (const op of asArray(r.operation)) {
      const od = definitions(str(op.definition));
      if (!od) continue;
      if (od.type === true) operationPaths(paths, od, str(op.name), 'type', type, type, schemaOf);
      if (od.instance === true) operationPaths(paths, od, str(op.name), 'instance', type, type, schemaOf);
    }
  }

  const security = isJsonObject(rest.security) ? rest.security : undefined;
  const uris = asArray(security?.extension).find((e) => e.url === OAUTH_URIS);
  const uri = (name: string): string => str(asArray(uris?.extension).find((e) => e.url === name)?.valueUri);
  const securitySchemes: Json = {};
  if (uris && uri('authorize') && uri('token')) {
    securitySchemes.smart = {
      type: 'oauth2',
      description: `${str(security?.description)} SMART App Launch 2.2: discovery at [base]/.well-known/smart-configuration.`,
      flows: {
        authorizationCode: { authorizationUrl: uri('authorize'), tokenUrl: uri('token'), refreshUrl: uri('token'), scopes: SCOPES },
        clientCredentials: { tokenUrl: uri('token'), scopes: SCOPES },
      },
    };
  }
  const software = isJsonObject(cs.software) ? cs.software : {};
  const implementation = isJsonObject(cs.implementation) ? cs.implementation : {};
  return {
    openapi: '3.1.0',
    info: {
      title: str(cs.title) || 'FHIR API',
      version: str(software.version) || '0',
      summary: `FHIR ${str(cs.fhirVersion)} REST API, generated from the server's CapabilityStatement`,
      description: `${str(cs.description)}\n\nGenerated from ${str(implementation.url)}/metadata and the OperationDefinitions it names. ${str(rest.documentation)}`,
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    externalDocs: { description: 'FHIR R4', url: 'https://hl7.org/fhir/R4/http.html' },
    servers: [{ url: str(implementation.url), description: 'FHIR base' }],
    tags,
    paths,
    components: {
      schemas,
      responses: { Error: { description: 'An OperationOutcome saying what went wrong', content: fhirContent(ref('OperationOutcome')) } },
      parameters: commonParameters(),
      securitySchemes,
    },
    ...(securitySchemes.smart ? { security: [{ smart: [] }] } : {}),
  };
}

function isJsonObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function commonParameters(): Record<string, Json> {
  const q = (name: string, description: string, schema: Json = { type: 'string' }): Json => ({
    name,
    in: 'query',
    required: false,
    description,
    schema,
  });
  const h = (name: string, description: string): Json => ({ name, in: 'header', required: false, description, schema: { type: 'string' } });
  return {
    id: {
      name: 'id',
      in: 'path',
      required: true,
      description: 'Logical id of the resource',
      schema: { type: 'string', pattern: '^[A-Za-z0-9\\-\\.]{1,64}$' },
    },
    vid: { name: 'vid', in: 'path', required: true, description: 'Version id', schema: { type: 'string' } },
    _count: q('_count', 'Page size', { type: 'integer', minimum: 0 }),
    _sort: q('_sort', 'Sort order: comma-separated parameter names, `-` for descending'),
    _include: q('_include', 'Also return what the matches reference: `Type:param[:target]`, or `*`'),
    _revinclude: q('_revinclude', 'Also return what references the matches: `Type:param`'),
    _summary: q('_summary', 'true | text | data | count | false'),
    _elements: q('_elements', 'Comma-separated elements to return'),
    _total: q('_total', 'none | estimate | accurate'),
    _contained: q('_contained', 'false | true | both'),
    _since: q('_since', 'Only changes since this instant'),
    _type: q('_type', 'Comma-separated resource types'),
    'If-None-Exist': h('If-None-Exist', 'Conditional create: search parameters that must match nothing'),
    'If-Match': h('If-Match', 'Version-aware update: the ETag (W/"version") the change is based on'),
    'If-None-Match': h('If-None-Match', 'Conditional read: the ETag the client holds'),
    Prefer: h('Prefer', 'return=minimal | representation | OperationOutcome; handling=strict | lenient'),
  };
}
