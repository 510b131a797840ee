/**
 * Before the fuzzing proper, a small linked population (organisations, practitioners, patients, encounters,
 * observations, …) is written in batches, layer by layer, so that references, chains, `_has`, includes and
 * `$everything` have data to walk. Resources come from the same generator (no hostile values) with client ids;
 * those the server accepted go into the id book that later requests draw references and targets from.
 */
import type http from 'node:http';
import { send } from './http';
import { toJson } from './hostile';
import { Rng } from './random';
import type { RequestGenerator } from './requests';

const LAYERS: [string, number][][] = [
  [
    ['Organization', 6],
    ['Practitioner', 6],
    ['Location', 4],
    ['Medication', 4],
    ['Device', 3],
    ['Substance', 2],
  ],
  [
    ['Patient', 12],
    ['PractitionerRole', 4],
    ['Group', 2],
    ['RelatedPerson', 3],
  ],
  [
    ['Encounter', 12],
    ['EpisodeOfCare', 3],
    ['Account', 2],
  ],
  [
    ['Observation', 25],
    ['Condition', 10],
    ['MedicationRequest', 8],
    ['Procedure', 6],
    ['DiagnosticReport', 6],
    ['AllergyIntolerance', 4],
    ['Immunization', 4],
    ['CarePlan', 3],
    ['DocumentReference', 3],
    ['List', 2],
    ['Basic', 3],
  ],
  [
    ['Provenance', 3],
    ['MedicationAdministration', 3],
    ['Communication', 3],
    ['Composition', 2],
  ],
];

/** Writes the population; returns how many resources were accepted. */
export async function seedPopulation(
  gen: RequestGenerator,
  seed: number,
  origin: URL,
  prefix: string,
  agent: http.Agent,
  timeoutMs: number,
  authorization: Record<string, string> = {},
): Promise<number> {
  const rng = new Rng(seed ^ 0x5eed);
  let accepted = 0;
  for (const [layer, types] of LAYERS.entries()) {
    const entries: { type: string; id: string; resource: Record<string, unknown> }[] = [];
    for (const [type, n] of types) {
      for (let i = 0; i < n; i++) {
        // several tries per resource: a random resource often breaks an invariant; keep the attempts cheap
        const id = `fz-${seed.toString(36)}-${layer}-${type.toLowerCase()}-${i}`;
        const resource = { ...gen.resources.resource(rng, type, { hostility: 0, optional: 0.5, maxDepth: 3, plausible: true }), id };
        entries.push({ type, id, resource });
      }
    }
    const body = {
      resourceType: 'Bundle',
      type: 'batch',
      entry: entries.map((e) => ({ resource: e.resource, request: { method: 'PUT', url: `${e.type}/${e.id}` } })),
    };
    const out = await send(
      origin,
      {
        kind: 'seed',
        method: 'POST',
        path: prefix,
        headers: { 'content-type': 'application/fhir+json', ...authorization },
        body: Buffer.from(toJson(body)),
      },
      timeoutMs,
      agent,
    );
    if (out.kind !== 'response' || out.status !== 200)
      throw new Error(`seeding batch ${layer} failed: ${out.kind === 'response' ? `${out.status} ${out.body.toString().slice(0, 500)}` : out.kind}`);
    const answer = JSON.parse(out.body.toString()) as { entry?: { response?: { status?: string } }[] };
    answer.entry?.forEach((e, i) => {
      if (/^20[01]/.test(e.response?.status ?? '')) {
        gen.ids.add(entries[i]!.type, entries[i]!.id);
        accepted++;
      }
    });
  }
  return accepted;
}
