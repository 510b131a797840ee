/**
 * Spec examples round-trip: every example in hl7.fhir.r4.examples 4.0.1, except conformance resources that would
 * change server behaviour, is PUT with its id (referential integrity off) and read back equal in content except
 * `meta`, compared losslessly (decimals by their exact text; no JSON.parse round trip). Examples over the body
 * limit must get 413; examples that are invalid as published must be refused with a precise OperationOutcome.
 */
import fs from 'node:fs';
import path from 'node:path';
import { isLosslessNumber, parseStoredJson, type JsonValue } from '../../server/fhir/json';
import { useServer } from '../harness';
import { examplesDir } from '../fixtures';

/**
 * Conformance resources that change server behaviour (issue 2's exclusion list), AuditEvent (the audit log is
 * written by the server only: clients' writes are refused with 405, test/audit) and Subscription (admitted by the
 * server: `requested` is stored `active`, other statuses and unreachable endpoints are refused, test/subscriptions).
 */
const BEHAVIOUR_TYPES = new Set([
  'AuditEvent',
  'Subscription',
  'SearchParameter',
  'StructureDefinition',
  'ValueSet',
  'CodeSystem',
  'ConceptMap',
  'CapabilityStatement',
  'OperationDefinition',
  'CompartmentDefinition',
  'ImplementationGuide',
  'NamingSystem',
]);

/** Examples that are invalid as published, with the reason (kept by the validator's own test). */
const INVALID: Record<string, string> = JSON.parse(
  fs.readFileSync(path.join(__dirname, '..', '..', 'server', 'fhir', 'validation', 'invalid-examples.json'), 'utf8'),
) as Record<string, string>;

/**
 * jsonb keeps a decimal's digits but prints exponent notation positionally (1E-22 → 0.0000000000000000000001,
 * same value and precision). Only one example uses exponents; this list states where that shows.
 */
const NOTATION_CHANGES: Record<string, string> = {
  'Observation-decimal.json': 'exponent notation (1E-22, 1.000000000000000000E±245) is stored as numeric and read back positionally',
};

const server = useServer({ config: { referentialIntegrity: false } });

function withoutMeta(v: JsonValue): JsonValue {
  if (v && typeof v === 'object' && !Array.isArray(v) && !isLosslessNumber(v)) {
    const { meta: _meta, ...rest } = v as Record<string, JsonValue>;
    return rest;
  }
  return v;
}

/** Deep equality where numbers compare by their exact lexical text. Returns the first differing path. */
function diff(a: JsonValue, b: JsonValue, p = ''): string | undefined {
  const num = (x: unknown) => (typeof x === 'number' ? String(x) : isLosslessNumber(x) ? (x as { value: string }).value : undefined);
  const na = num(a);
  const nb = num(b);
  if (na !== undefined || nb !== undefined) return na === nb ? undefined : `${p}: ${na} ≠ ${nb}`;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return `${p}: array shape`;
    for (let i = 0; i < a.length; i++) {
      const d = diff(a[i], b[i], `${p}[${i}]`);
      if (d) return d;
    }
    return undefined;
  }
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const ka = Object.keys(a).sort();
    const kb = Object.keys(b).sort();
    if (ka.join() !== kb.join()) return `${p}: keys ${ka.join()} ≠ ${kb.join()}`;
    for (const k of ka) {
      const d = diff((a as Record<string, JsonValue>)[k], (b as Record<string, JsonValue>)[k], `${p}.${k}`);
      if (d) return d;
    }
    return undefined;
  }
  return a === b ? undefined : `${p}: ${JSON.stringify(a)} ≠ ${JSON.stringify(b)}`;
}

interface Result {
  file: string;
  outcome: 'round-trip' | 'too-large' | 'invalid' | 'notation';
  problem?: string;
}

async function roundTrip(file: string, text: string, resourceType: string, id: string): Promise<Result> {
  const put = await server.request('PUT', `/${resourceType}/${encodeURIComponent(id)}`, { body: text });
  if (Buffer.byteLength(text) > server.config.bodyLimit) {
    return put.status === 413 ? { file, outcome: 'too-large' } : { file, outcome: 'too-large', problem: `expected 413, got ${put.status}` };
  }
  if (INVALID[file]) {
    const issues = (put.body?.issue ?? []) as { severity: string; expression?: string[]; diagnostics?: string }[];
    const precise = issues.some((i) => i.severity === 'error' && i.expression?.length && i.diagnostics);
    return put.status === 400 && precise
      ? { file, outcome: 'invalid' }
      : { file, outcome: 'invalid', problem: `expected a precise 400, got ${put.status} ${put.text.slice(0, 300)}` };
  }
  if (put.status !== 201 && put.status !== 200) return { file, outcome: 'round-trip', problem: `PUT → ${put.status}: ${put.text.slice(0, 500)}` };
  const read = await server.request('GET', `/${resourceType}/${encodeURIComponent(id)}`);
  const d = diff(withoutMeta(parseStoredJson(text)), withoutMeta(parseStoredJson(read.text)));
  if (NOTATION_CHANGES[file])
    return d ? { file, outcome: 'notation' } : { file, outcome: 'notation', problem: 'listed as a notation change but read back identical' };
  return d ? { file, outcome: 'round-trip', problem: d } : { file, outcome: 'round-trip' };
}

test('every R4 example (except behaviour-changing conformance resources) round-trips', async () => {
  const dir = examplesDir();
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.json') && f !== 'package.json' && !f.startsWith('.'));
  const work: { file: string; text: string; type: string; id: string }[] = [];
  for (const file of files) {
    const text = fs.readFileSync(path.join(dir, file), 'utf8');
    const head = /"resourceType"\s*:\s*"([A-Za-z]+)"/.exec(text);
    if (!head || BEHAVIOUR_TYPES.has(head[1])) continue;
    const top = JSON.parse(text) as { resourceType: string; id?: string };
    if (BEHAVIOUR_TYPES.has(top.resourceType)) continue;
    work.push({
      file,
      text,
      type: top.resourceType,
      id:
        top.id ??
        file
          .replace(/\.json$/, '')
          .replace(/[^A-Za-z0-9\-.]/g, '-')
          .slice(0, 64),
    });
  }
  expect(work.length).toBeGreaterThan(700);
  const results: Result[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 6 }, async () => {
      while (next < work.length) {
        const w = work[next++];
        results.push(await roundTrip(w.file, w.text, w.type, w.id));
      }
    }),
  );
  const problems = results.filter((r) => r.problem).map((r) => `${r.file} (${r.outcome}): ${r.problem}`);
  expect(problems).toEqual([]);
  const tally = (o: Result['outcome']) => results.filter((r) => r.outcome === o).length;
  const invalidInScope = work.filter((w) => INVALID[w.file] && Buffer.byteLength(w.text) <= server.config.bodyLimit);
  expect(tally('invalid')).toBe(invalidInScope.length);
  expect(tally('too-large')).toBeGreaterThanOrEqual(1); // Bundle-resources.json (35 MB) is over the 16 MB default
  console.log(
    `spec examples: ${tally('round-trip')} round-tripped, ${tally('notation')} notation change, ${tally('invalid')} invalid as published, ${tally('too-large')} over the body limit, ${files.length - work.length} behaviour-changing conformance resources and AuditEvents skipped`,
  );
}, 600_000);
