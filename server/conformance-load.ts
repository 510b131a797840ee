/**
 * The server's built-in conformance resources (conformance/ in the repository), read once at start-up and served
 * read-only — they are not stored resources: they describe the code that runs, so they change with it, never
 * through the API.
 *
 * - `capability-statement.json`: the static parts of the CapabilityStatement (names, texts, formats), merged at run
 *   time with what capabilities.ts generates from the routes, the search parameter registry and the operations.
 * - `OperationDefinition/[id].json`: one per operation the server offers (rest/operations/index.ts names each by its
 *   `definition`, `https://arogya.dev/fhir/OperationDefinition/[id]`); standard ones name the published definition
 *   they implement in `base`.
 * - `SearchParameter/[id].json`: the search parameters the server defines itself (fhir/search/hms.ts).
 *
 * `GET [base]/OperationDefinition/[id]` and `GET [base]/SearchParameter/[id]` answer these (and, for SearchParameter,
 * the R4 core parameters the server indexes, built from the R4 definitions) before looking at stored resources.
 */
import fs from 'node:fs';
import path from 'node:path';
import { r4Model } from './fhir/definitions';
import { isJsonObject, parseFhirJson, type JsonObject } from './fhir/json';
import { HMS_BASE } from './profiles-load';

export const OPERATION_DEFINITION_BASE = `${HMS_BASE}/OperationDefinition/`;
const CORE_SP_BASE = 'http://hl7.org/fhir/SearchParameter/';

export interface Conformance {
  /** capability-statement.json: the statement's static parts. */
  capabilityStatement: JsonObject;
  operationDefinitions: Map<string, JsonObject>;
  searchParameters: Map<string, JsonObject>;
}

/** The repository's conformance/ folder (from server/ in development, dist/server/ when built). */
export function conformanceDir(): string {
  for (const c of [path.resolve(__dirname, '..', 'conformance'), path.resolve(__dirname, '..', '..', 'conformance')]) {
    if (fs.existsSync(path.join(c, 'capability-statement.json'))) return c;
  }
  throw new Error('conformance/ (the built-in conformance resources) was not found beside the server');
}

function readJson(file: string): JsonObject {
  const json = parseFhirJson(fs.readFileSync(file, 'utf8'));
  if (!isJsonObject(json)) throw new Error(`${file} is not a JSON object`);
  return json;
}

/** The resources of one folder by id; each file must be `[id].json` of a resource of that type. */
function readFolder(dir: string, resourceType: string): Map<string, JsonObject> {
  const out = new Map<string, JsonObject>();
  for (const f of fs.readdirSync(dir).sort()) {
    if (!f.endsWith('.json')) continue;
    const r = readJson(path.join(dir, f));
    if (r.resourceType !== resourceType || r.id !== f.slice(0, -'.json'.length)) {
      throw new Error(`${path.join(dir, f)}: expected a ${resourceType} with id ${f.slice(0, -5)}`);
    }
    out.set(r.id as string, r);
  }
  return out;
}

let loaded: Conformance | undefined;

/** The built-in conformance resources (read once per process; a broken file stops the start). */
export function loadConformance(): Conformance {
  if (loaded) return loaded;
  const dir = conformanceDir();
  loaded = {
    capabilityStatement: readJson(path.join(dir, 'capability-statement.json')),
    operationDefinitions: readFolder(path.join(dir, 'OperationDefinition'), 'OperationDefinition'),
    searchParameters: readFolder(path.join(dir, 'SearchParameter'), 'SearchParameter'),
  };
  return loaded;
}

let coreIds: Map<string, JsonObject> | undefined;

/** The R4 core SearchParameter with this id (`Patient-name`, `clinical-patient`), as the R4 definitions give it. */
function coreSearchParameter(id: string): JsonObject | undefined {
  if (!coreIds) {
    const ids = new Map<string, JsonObject>();
    for (const sp of r4Model().searchParameters) {
      if (!sp.url.startsWith(CORE_SP_BASE) || !sp.base) continue;
      const spId = sp.url.slice(CORE_SP_BASE.length);
      const out: JsonObject = {
        resourceType: 'SearchParameter',
        id: spId,
        url: sp.url,
        version: '4.0.1',
        name: sp.code,
        status: 'active',
        publisher: 'HL7 FHIR R4 (4.0.1), as distilled by Arogya',
        description: `The R4 search parameter ${sp.code} (${sp.base.join(', ')}); the published definition is at ${sp.url}.`,
        code: sp.code,
        base: sp.base,
        type: sp.type,
      };
      if (sp.expression) out.expression = sp.expression;
      if (sp.target) out.target = sp.target;
      if (sp.multipleOr !== undefined) out.multipleOr = sp.multipleOr;
      if (sp.multipleAnd !== undefined) out.multipleAnd = sp.multipleAnd;
      if (sp.comparator) out.comparator = sp.comparator;
      if (sp.modifier) out.modifier = sp.modifier;
      if (sp.component) out.component = sp.component.map((c) => ({ definition: c.definition, expression: c.expression }));
      ids.set(spId, out);
    }
    coreIds = ids;
  }
  return coreIds.get(id);
}

/** The built-in (read-only) resource `type/id`, if there is one. */
export function builtInResource(type: string, id: string): JsonObject | undefined {
  if (type === 'OperationDefinition') return loadConformance().operationDefinitions.get(id);
  if (type === 'SearchParameter') return loadConformance().searchParameters.get(id) ?? coreSearchParameter(id);
  return undefined;
}
