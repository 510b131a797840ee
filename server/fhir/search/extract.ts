/**
 * Write-time extraction of search values (DESIGN.md §3): each indexed SearchParameter's FHIRPath expression is
 * compiled once per resource type into a plain property walk when it is a simple path (the common case, and
 * ~100× cheaper than interpreting FHIRPath), falling back to a cached fhirpath.js compilation otherwise.
 */
import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4';
import { isJsonObject, type JsonObject, type JsonValue } from '../json';
import { indexedParams, splitUnion, type ActiveSearchParam } from './registry';
import type { IndexRows } from '../../repository/writes';

export interface TokenValue {
  param: string;
  system: string | null;
  code: string | null;
}

type Evaluator = (resource: JsonObject) => JsonValue[];

const SIMPLE_PATH = /^[A-Z][A-Za-z]+(\.[a-z][A-Za-z0-9]*)+$/;

function compilePath(expression: string): Evaluator {
  const members = splitUnion(expression);
  if (members.every((m) => SIMPLE_PATH.test(m))) {
    const paths = members.map((m) => m.split('.').slice(1));
    return (resource) => {
      const out: JsonValue[] = [];
      for (const steps of paths) collect(resource, steps, 0, out);
      return out;
    };
  }
  const compiled = fhirpath.compile(expression, r4);
  return (resource) => compiled(resource as object) as JsonValue[];
}

function collect(node: JsonValue, steps: string[], i: number, out: JsonValue[]): void {
  if (Array.isArray(node)) {
    for (const item of node) collect(item, steps, i, out);
    return;
  }
  if (i === steps.length) {
    if (node !== null && node !== undefined) out.push(node);
    return;
  }
  if (!isJsonObject(node)) return;
  const next = node[steps[i]];
  if (next !== undefined) collect(next, steps, i + 1, out);
}

const evaluators = new Map<string, Evaluator>();

function evaluator(param: ActiveSearchParam): Evaluator {
  let e = evaluators.get(param.expression);
  if (!e) {
    e = compilePath(param.expression);
    evaluators.set(param.expression, e);
  }
  return e;
}

/** Token values: Identifier, Coding, CodeableConcept, ContactPoint, code/string/boolean/uri primitives. */
function tokensOf(param: string, value: JsonValue, out: TokenValue[]): void {
  if (typeof value === 'string') out.push({ param, system: null, code: value });
  else if (typeof value === 'boolean') out.push({ param, system: null, code: String(value) });
  else if (isJsonObject(value)) {
    if (Array.isArray(value.coding)) for (const c of value.coding) tokensOf(param, c, out);
    const system = typeof value.system === 'string' ? value.system : null;
    const code = typeof value.code === 'string' ? value.code : typeof value.value === 'string' ? value.value : null;
    if (code !== null || (system !== null && !Array.isArray(value.coding))) out.push({ param, system, code });
  }
}

export function extractTokens(resource: JsonObject): TokenValue[] {
  const out: TokenValue[] = [];
  for (const param of indexedParams(resource.resourceType as string)) {
    if (param.type !== 'token') continue;
    for (const v of evaluator(param)(resource)) tokensOf(param.code, v, out);
  }
  return out;
}

/** Every index row of a resource version, by index table (repository/writes.ts INDEX_TABLES). */
export function extractIndexRows(resource: JsonObject): IndexRows {
  return { search_token: extractTokens(resource).map((t) => [t.param, t.system, t.code]) };
}
