/**
 * Bundles of odd shapes for `POST /fhir`: transaction and batch (and types the endpoint must refuse), entries that
 * create, update, patch, delete and read, conditional creates, updates and references, urn:uuid references in
 * cycles, duplicate fullUrls, nested Bundles, PATCH entries (JSON Patch in a Binary, FHIRPath Patch), and sizes
 * from one entry to thousands (within the server's limits, and past them now and then).
 */
import { hostileString } from './hostile';
import { fhirPathPatch, jsonPatch } from './patches';
import type { Rng } from './random';
import { uuid, type ResourceGenerator } from './resources';
import type { SearchGenerator } from './search';

const COMMON_TYPES = [
  'Patient',
  'Observation',
  'Encounter',
  'Practitioner',
  'Organization',
  'Condition',
  'MedicationRequest',
  'Location',
  'Basic',
  'Group',
  'List',
];

export function bundle(rng: Rng, gen: ResourceGenerator, search: SearchGenerator, hostility: number, maxEntries: number): Record<string, unknown> {
  const type = rng.weighted({ transaction: 6, batch: 4, odd: 0.5 }) as string;
  const bundleType = type === 'odd' ? rng.pick(['collection', 'searchset', 'document', 'message', 'history', 'x', '', 'transaction-response']) : type;
  const size = rng.weighted({ small: 20, medium: 4, big: 1, huge: 0.15 });
  const n = Math.min(
    maxEntries,
    size === 'small' ? rng.range(0, 8) : size === 'medium' ? rng.range(9, 60) : size === 'big' ? rng.range(61, 600) : rng.range(1500, 3000),
  );
  // Big bundles carry lean resources: the point is the entry count, not the body size.
  const lean = n > 60;
  const fullUrls = Array.from({ length: Math.min(n, 50) }, () =>
    rng.chance(0.9)
      ? `urn:uuid:${uuid(rng)}`
      : rng.pick(['urn:oid:1.2.3.4', 'http://example.org/fhir/Patient/fz1', `urn:uuid:${uuid(rng)}`.toUpperCase(), 'urn:uuid:', hostileString(rng)]),
  );
  const entries: Record<string, unknown>[] = [];
  // Search entries run one after another: a few per bundle reach the search paths; hundreds only add minutes.
  let gets = 0;
  for (let i = 0; i < n; i++) {
    const kind = rng.weighted({
      post: 10,
      put: 4,
      conditionalPut: 1,
      del: 1.5,
      conditionalDelete: 0.5,
      get: gets < 10 ? 2 : 0,
      patch: 1.5,
      nested: lean ? 0 : 0.3,
      broken: 0.5,
    });
    if (kind === 'get') gets++;
    const resType = rng.chance(0.7) ? rng.pick(COMMON_TYPES) : rng.pick(gen.resourceTypes);
    const resource = (): Record<string, unknown> =>
      gen.resource(
        rng,
        resType,
        lean
          ? { hostility: 0.002, maxDepth: 2, optional: 0.3, extraRefs: fullUrls, plausible: true }
          : { hostility, extraRefs: fullUrls, plausible: rng.chance(0.6) },
      );
    const fullUrl = rng.chance(0.08) && fullUrls.length ? rng.pick(fullUrls) : i < fullUrls.length ? fullUrls[i] : `urn:uuid:${uuid(rng)}`; // duplicates now and then
    switch (kind) {
      case 'post': {
        const request: Record<string, unknown> = { method: 'POST', url: resType };
        if (rng.chance(0.15)) request.ifNoneExist = rng.chance(0.7) ? `identifier=http://example.org|${rng.int(20)}` : search.query(rng, resType);
        const r = resource();
        if (request.ifNoneExist && rng.chance(0.7)) r.identifier = [{ system: 'http://example.org', value: String(rng.int(20)) }];
        entries.push({ fullUrl, resource: r, request });
        break;
      }
      case 'put': {
        const known = gen.ids.pick(rng, [resType]);
        const id = known && rng.chance(0.5) ? known.split('/')[1]! : gen.id(rng, { hostility, maxDepth: 1, optional: 0 });
        const r = { ...resource(), id: rng.chance(0.95) ? id : 'other' };
        const request: Record<string, unknown> = { method: 'PUT', url: `${resType}/${id}` };
        if (rng.chance(0.1)) request.ifMatch = rng.pick(['W/"1"', 'W/"2"', '*', 'x']);
        entries.push({ fullUrl: rng.chance(0.5) ? fullUrl : `http://example.org/fhir/${resType}/${id}`, resource: r, request });
        break;
      }
      case 'conditionalPut':
        entries.push({ fullUrl, resource: resource(), request: { method: 'PUT', url: `${resType}?${search.query(rng, resType)}` } });
        break;
      case 'del': {
        const target = gen.ids.pick(rng) ?? `${resType}/${gen.id(rng, { hostility, maxDepth: 1, optional: 0 })}`;
        entries.push({ request: { method: 'DELETE', url: target } });
        break;
      }
      case 'conditionalDelete':
        entries.push({ request: { method: 'DELETE', url: `${resType}?${search.query(rng, resType)}` } });
        break;
      case 'get':
        entries.push({
          request: {
            method: rng.pick(['GET', 'GET', 'HEAD']),
            url: rng.chance(0.7) ? `${resType}?${search.query(rng, resType)}` : (gen.ids.pick(rng) ?? `${resType}/x`),
          },
        });
        break;
      case 'patch': {
        const target = gen.ids.pick(rng, [resType]) ?? `${resType}/${gen.id(rng, { hostility, maxDepth: 1, optional: 0 })}`;
        const url = rng.chance(0.8) ? target : `${resType}?${search.query(rng, resType)}`;
        const resourceBody = rng.chance(0.5)
          ? {
              resourceType: 'Binary',
              contentType: 'application/json-patch+json',
              data: Buffer.from(JSON.stringify(jsonPatch(rng, resType, hostility))).toString('base64'),
            }
          : fhirPathPatch(rng, resType, gen, hostility);
        entries.push({ fullUrl, resource: resourceBody, request: { method: 'PATCH', url } });
        break;
      }
      case 'nested':
        // a Bundle inside a Bundle, itself holding a transaction
        entries.push({
          fullUrl,
          resource: {
            resourceType: 'Bundle',
            type: rng.pick(['transaction', 'collection', 'batch']),
            entry: [
              {
                fullUrl: `urn:uuid:${uuid(rng)}`,
                resource: gen.resource(rng, 'Patient', { hostility }),
                request: { method: 'POST', url: 'Patient' },
              },
            ],
          },
          request: { method: 'POST', url: 'Bundle' },
        });
        break;
      default:
        entries.push(
          rng.pick<Record<string, unknown>>([
            {},
            { resource: resource() },
            { request: { method: 'POST' } },
            { request: { method: rng.pick(['TRACE', 'OPTIONS', 'post', '']), url: resType }, resource: resource() },
            {
              request: { method: 'POST', url: rng.pick(['Nope', '', '/', '../x', 'Patient/1/_history/1', '$validate', hostileString(rng)]) },
              resource: resource(),
            },
            { fullUrl, request: { method: 'POST', url: 'Patient' }, resource: { resourceType: 'Observation' } },
            {
              request: {
                method: 'GET',
                url: rng.pick(['', '?', 'metadata', '_history', 'Patient/$everything', 'Patient?_include:iterate=*&_revinclude:iterate=*']),
              },
            },
          ]),
        );
    }
  }
  // urn:uuid cycles: make two POSTed entries point at each other
  const posts = entries.filter((e) => (e.request as { method?: string } | undefined)?.method === 'POST' && e.resource && e.fullUrl);
  if (posts.length >= 2 && rng.chance(0.3)) {
    const [a, b] = [rng.pick(posts), rng.pick(posts)];
    (a.resource as Record<string, unknown>).extension = [{ url: 'http://example.org/link', valueReference: { reference: b.fullUrl } }];
    (b.resource as Record<string, unknown>).extension = [{ url: 'http://example.org/link', valueReference: { reference: a.fullUrl } }];
  }
  const out: Record<string, unknown> = { resourceType: 'Bundle', type: bundleType, entry: entries };
  if (rng.chance(0.03)) delete out.entry;
  if (rng.chance(0.02)) out.type = undefined;
  return out;
}
