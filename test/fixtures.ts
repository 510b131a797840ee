/**
 * Real test data: Synthea patient bundles from ../shared/fixtures and the official R4 examples package.
 * Synthea transaction bundles reference entries by `urn:uuid:`; for interaction tests we turn them into
 * resources with their own ids and relative references, ordered so every reference target comes first.
 */
import fs from 'node:fs';
import path from 'node:path';
import { FIXTURES_DIR } from './harness';

type Json = Record<string, any>;

export function examplesDir(): string {
  return path.join(path.dirname(require.resolve('hl7.fhir.r4.examples/package.json')));
}

export function specExample(file: string): Json {
  return JSON.parse(fs.readFileSync(path.join(examplesDir(), file), 'utf8')) as Json;
}

/** A smart-generated Synthea patient bundle, as resources with relative references in dependency order. */
export function syntheaResources(name = 'Alfreda_Wyman_3287b938-4670-47eb-91e5-e0ce3df71405.json'): Json[] {
  const file = path.join(FIXTURES_DIR, 'synthea', 'smart-generated-sample-data-r4', name);
  const bundle = JSON.parse(fs.readFileSync(file, 'utf8')) as Json;
  const map = new Map<string, string>();
  for (const e of bundle.entry as Json[]) map.set(e.fullUrl, `${e.resource.resourceType}/${e.resource.id}`);
  const text = JSON.stringify((bundle.entry as Json[]).map((e) => e.resource)).replace(/"urn:uuid:[0-9a-f-]+"/g, (m) => {
    const ref = map.get(m.slice(1, -1));
    return ref ? JSON.stringify(ref) : m;
  });
  const resources = JSON.parse(text) as Json[];
  return topoSort(resources);
}

function refsOf(node: unknown, out: Set<string>): Set<string> {
  if (Array.isArray(node)) for (const n of node) refsOf(n, out);
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === 'reference' && typeof v === 'string') out.add(v);
      else refsOf(v, out);
    }
  }
  return out;
}

function topoSort(resources: Json[]): Json[] {
  const byKey = new Map(resources.map((r) => [`${r.resourceType}/${r.id}`, r]));
  const done = new Set<string>();
  const out: Json[] = [];
  const visit = (key: string, stack: Set<string>): void => {
    if (done.has(key) || stack.has(key)) return;
    const r = byKey.get(key);
    if (!r) return;
    stack.add(key);
    for (const ref of refsOf(r, new Set())) visit(ref, stack);
    stack.delete(key);
    done.add(key);
    out.push(r);
  };
  for (const key of byKey.keys()) visit(key, new Set());
  return out;
}
