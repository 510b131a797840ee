/**
 * Per-resource CPU cost of the pure steps of a create, measured in this process (no HTTP, no database): lossless
 * parse and serialise (fhir/json.ts), base-R4 validation (fhir/validation, when importable), and the write-time
 * extraction of search values and references. Plain JSON.parse/JSON.stringify is shown for scale. These are lower
 * bounds: one hot loop on one shape, with no other work competing for caches; inside the server the same steps
 * cost more.
 */
import { collectReferences } from '../../server/fhir/references';
import * as extract from '../../server/fhir/search/extract';
import { parseFhirJson, toJson, type JsonObject } from '../../server/fhir/json';
import { validateResource } from '../../server/fhir/validation';
import { loadProfileSet } from '../../server/profiles-load';
import { HMS_PATIENT_PROFILE } from './payload';

export interface StepCost {
  name: string;
  /** µs per resource, or the reason it was skipped */
  micros?: number;
  skipped?: string;
}

/** µs per call: warm up, then repeat for at least `ms` milliseconds. */
function timeIt(fn: () => unknown, ms = 400): number {
  for (let i = 0; i < 300; i++) fn();
  let n = 0;
  const t0 = performance.now();
  let elapsed = 0;
  while (elapsed < ms) {
    for (let i = 0; i < 50; i++) fn();
    n += 50;
    elapsed = performance.now() - t0;
  }
  return (elapsed * 1000) / n;
}

type Validate = (resource: unknown, options?: { expectedType?: string }) => { severity: string }[];

/** fhir/validation is being finished by another change: load it at run time and skip the line if it cannot. */
function loadValidator(): Validate | string {
  try {
    const mod = require(['..', '..', 'server', 'fhir', 'validation'].join('/')) as { validateResource?: Validate };
    return typeof mod.validateResource === 'function' ? mod.validateResource : 'fhir/validation exports no validateResource';
  } catch (e) {
    return `fhir/validation is not importable: ${(e as Error).message.split('\n')[0]}`;
  }
}

export function measureSteps(json: string): StepCost[] {
  const parsed = parseFhirJson(json) as JsonObject;
  const resource: JsonObject = { resourceType: 'Patient', id: '0b6cf2a1-5d0e-4a57-9f8e-3c1d2b4a6e7f', ...parsed };
  const steps: StepCost[] = [
    { name: 'lossless parse (parseFhirJson)', micros: timeIt(() => parseFhirJson(json)) },
    { name: 'lossless stringify (toJson)', micros: timeIt(() => toJson(resource)) },
    { name: '  for scale: JSON.parse + JSON.stringify', micros: timeIt(() => JSON.stringify(JSON.parse(json))) },
  ];
  const validate = loadValidator();
  if (typeof validate === 'string') steps.push({ name: 'validateResource', skipped: validate });
  else {
    const issues = validate(resource, { expectedType: 'Patient' }).filter((i) => i.severity === 'error' || i.severity === 'fatal');
    if (issues.length) steps.push({ name: 'validateResource', skipped: `the payload has ${issues.length} error(s)` });
    else steps.push({ name: 'validateResource', micros: timeIt(() => validate(resource, { expectedType: 'Patient' })) });
  }
  // Issue 13: the same validation when the Patient claims the HMS Patient profile (profiles/).
  const { set } = loadProfileSet({ igDirs: [], requireProfiles: undefined });
  const claimed: JsonObject = { ...resource, meta: { profile: [HMS_PATIENT_PROFILE] } };
  const profiledErrors = validateResource(claimed, { expectedType: 'Patient', profiles: set }).filter((i) => i.severity === 'error');
  if (profiledErrors.length)
    steps.push({ name: 'validateResource + HMS Patient profile', skipped: `the payload has ${profiledErrors.length} profile error(s)` });
  else
    steps.push({
      name: 'validateResource + HMS Patient profile',
      micros: timeIt(() => validateResource(claimed, { expectedType: 'Patient', profiles: set })),
    });
  // The extraction API is growing with the search work: use the full index-row extraction when it exists.
  const ex = extract as unknown as Record<string, ((r: JsonObject, o?: object) => unknown) | undefined>;
  const options = { timeZone: 'UTC', baseUrl: 'http://localhost:8080/fhir' };
  const [fnName, fn] = ex.extractIndexRows ? ['extractIndexRows', ex.extractIndexRows] : ['extractTokens', ex.extractTokens];
  if (fn)
    steps.push({
      name: `search values (${fnName}) + collectReferences`,
      micros: timeIt(() => [fn(resource, options), collectReferences(resource, options.baseUrl)]),
    });
  else steps.push({ name: 'search-value extraction', skipped: 'fhir/search/extract exports neither extractIndexRows nor extractTokens' });
  return steps;
}
