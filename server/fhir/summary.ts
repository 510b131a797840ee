/**
 * `_summary` and `_elements` (https://hl7.org/fhir/R4/search.html#summary, #elements): subsets of a resource,
 * marked with the SUBSETTED tag so no one mistakes them for the whole resource.
 */
import { r4Model, type ElementDef } from './definitions';
import { isJsonObject, type JsonObject, type JsonValue } from './json';
import { badRequest } from './outcome';

export type SummaryMode = 'true' | 'text' | 'data' | 'count' | 'false';

const SUBSETTED = { system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'SUBSETTED', display: 'subsetted' };

export function parseSummary(value: string): SummaryMode {
  if (['true', 'text', 'data', 'count', 'false'].includes(value)) return value as SummaryMode;
  throw badRequest(`Invalid _summary value '${value}': expected true, text, data, count or false`, '_summary');
}

export function parseElements(value: string): string[] {
  const names = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const n of names) {
    if (!/^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)?$/.test(n)) throw badRequest(`Invalid _elements entry '${n}'`, '_elements');
  }
  return names;
}

/** Child element definitions of `path` within a type, keyed by JSON property base name (choice `[x]` stripped). */
function children(type: string, path: string): Map<string, ElementDef> {
  const def = r4Model().types[type];
  const out = new Map<string, ElementDef>();
  if (!def) return out;
  const prefix = `${path}.`;
  for (const e of def.elements) {
    if (!e.path.startsWith(prefix)) continue;
    const rest = e.path.slice(prefix.length);
    if (rest.includes('.')) continue;
    out.set(rest.replace('[x]', ''), e);
  }
  return out;
}

/** Matches a JSON key to its element (choice properties like valueQuantity → value[x]). */
function elementFor(defs: Map<string, ElementDef>, key: string): ElementDef | undefined {
  const name = key.startsWith('_') ? key.slice(1) : key;
  const direct = defs.get(name);
  if (direct) return direct;
  for (const [base, e] of defs) if (e.path.endsWith('[x]') && name.startsWith(base) && /^[A-Z]/.test(name.slice(base.length))) return e;
  return undefined;
}

function summaryOf(type: string, path: string, node: JsonObject): JsonObject {
  const defs = children(type, path);
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === 'resourceType') {
      out[key] = value;
      continue;
    }
    const e = elementFor(defs, key);
    if (!e || !(e.summary || e.min > 0)) continue;
    const isBackbone = e.types.some((t) => t.code === 'BackboneElement' || t.code === 'Element') && !e.contentReference;
    if (isBackbone) {
      const sub = (v: JsonValue): JsonValue => (isJsonObject(v) ? summaryOf(type, e.path, v) : v);
      out[key] = Array.isArray(value) ? value.map(sub) : sub(value);
    } else out[key] = value;
  }
  return out;
}

function tagSubsetted(resource: JsonObject): JsonObject {
  const meta: JsonObject = isJsonObject(resource.meta) ? { ...resource.meta } : {};
  const tags = Array.isArray(meta.tag) ? [...meta.tag] : [];
  if (!tags.some((t) => isJsonObject(t) && t.code === 'SUBSETTED')) tags.push({ ...SUBSETTED });
  meta.tag = tags;
  return { ...resource, meta };
}

export function applySummary(resource: JsonObject, mode: SummaryMode, elements?: string[]): JsonObject {
  const type = resource.resourceType as string;
  if (elements?.length) {
    const defs = children(type, type);
    const wanted = new Set(elements.map((e) => e.split('.')[0]));
    const out: JsonObject = {};
    for (const [key, value] of Object.entries(resource)) {
      const e = elementFor(defs, key);
      const name = e ? e.path.slice(type.length + 1).replace('[x]', '') : key;
      if (key === 'resourceType' || key === 'id' || key === 'meta' || wanted.has(name) || (e && e.min > 0)) out[key] = value;
    }
    return tagSubsetted(out);
  }
  switch (mode) {
    case 'false':
      return resource;
    case 'data': {
      const { text: _text, ...rest } = resource;
      return tagSubsetted(rest);
    }
    case 'text': {
      const defs = children(type, type);
      const out: JsonObject = {};
      for (const [key, value] of Object.entries(resource)) {
        const e = elementFor(defs, key);
        if (key === 'resourceType' || key === 'id' || key === 'meta' || key === 'text' || (e && e.min > 0)) out[key] = value;
      }
      return tagSubsetted(out);
    }
    case 'true':
    case 'count':
      return tagSubsetted(summaryOf(type, type, resource));
  }
}
