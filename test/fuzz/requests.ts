/**
 * The request mix: every FHIR interaction the server routes, with typed resources (resources.ts), bundles
 * (bundles.ts), searches (search.ts), patches (patches.ts), hostile headers (headers.ts), deeply nested and
 * malformed bodies. Request `i` of a run is drawn from its own generator seeded by (seed, i), in index order, so
 * a seed reproduces the same sequence whatever the concurrency.
 */
import { bundle } from './bundles';
import { hostileHeaders, headerSafe } from './headers';
import { RawJson, hostileString, sizes, toJson } from './hostile';
import { fhirPathPatch, jsonPatch } from './patches';
import { Rng } from './random';
import { IdBook, ResourceGenerator } from './resources';
import { SearchGenerator, enc } from './search';

export interface FuzzRequest {
  /** What the generator meant to exercise (for the summary). */
  kind: string;
  method: string;
  /** Path and query, from the server's root (`/fhir/Patient?name=a`). */
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
}

const FHIR_JSON = 'application/fhir+json';
const COMMON = [
  'Patient',
  'Observation',
  'Encounter',
  'Practitioner',
  'Organization',
  'Condition',
  'MedicationRequest',
  'DiagnosticReport',
  'Location',
  'Group',
  'List',
  'Questionnaire',
  'QuestionnaireResponse',
  'Bundle',
  'Basic',
  'ValueSet',
  'CodeSystem',
  'SearchParameter',
];

export class RequestGenerator {
  readonly ids = new IdBook();
  readonly resources = new ResourceGenerator(this.ids);
  readonly search: SearchGenerator;

  constructor(
    private readonly seed: number,
    private readonly prefix = '/fhir',
    /** `short`: no multi-megabyte bodies, thousand-entry bundles or hundredfold criteria (the run inside npm test). */
    private readonly profile: 'full' | 'short' = 'full',
    private readonly hostility = 0.06,
  ) {
    this.search = new SearchGenerator(this.ids, this.resources.resourceTypes, hostility, profile === 'short' ? 10 : 300);
    if (profile === 'short') Object.assign(sizes, { longString: 20_000, hugeString: 100_000 });
  }

  /** Request number `index` of the run. */
  request(index: number): FuzzRequest {
    const rng = new Rng((this.seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0);
    const req = this.draw(rng);
    if (rng.chance(0.25))
      Object.assign(
        req.headers,
        hostileHeaders(rng, req.body !== undefined, () => this.search.query(rng, 'Patient')),
      );
    return req;
  }

  private type(rng: Rng): string {
    return rng.chance(0.6) ? rng.pick(COMMON) : rng.pick(this.resources.resourceTypes);
  }

  /** Half plausible (mostly stored, hostile values reach indexing and storage), half structurally random. */
  private resource(rng: Rng, type: string): Record<string, unknown> {
    return this.resources.resource(rng, type, { hostility: this.hostility, plausible: rng.chance(0.5) });
  }

  private json(value: unknown): Buffer {
    return Buffer.from(toJson(value), 'utf8');
  }

  private draw(rng: Rng): FuzzRequest {
    const p = this.prefix;
    const type = this.type(rng);
    const h = this.hostility;
    const kind = rng.weighted({
      create: 12,
      update: 8,
      conditionalCreate: 2,
      conditionalWrite: 2,
      read: 5,
      history: 2,
      delete: 2,
      patch: 4,
      search: 20,
      searchPost: 3,
      systemSearch: 2,
      compartment: 2,
      bundle: 12,
      validate: 3,
      everything: 2,
      deep: 3,
      malformed: 4,
      odd: 3,
      metadata: 0.3,
      bulk: 0.2,
    });
    const headers: Record<string, string> = { 'content-type': FHIR_JSON };
    switch (kind) {
      case 'create':
        return { kind, method: 'POST', path: `${p}/${type}`, headers, body: this.json(this.resource(rng, type)) };
      case 'update': {
        const known = this.ids.pick(rng, [type]);
        const id = known && rng.chance(0.5) ? known.split('/')[1]! : this.resources.id(rng, { hostility: h, maxDepth: 1, optional: 0 });
        if (/^[A-Za-z0-9.-]{1,64}$/.test(id)) this.ids.add(type, id);
        const resource = { ...this.resource(rng, type), id: rng.chance(0.97) ? id : 'different' };
        return { kind, method: 'PUT', path: `${p}/${type}/${enc(id)}`, headers, body: this.json(resource) };
      }
      case 'conditionalCreate':
        headers['if-none-exist'] = headerSafe(this.search.query(rng, type));
        return { kind, method: 'POST', path: `${p}/${type}`, headers, body: this.json(this.resource(rng, type)) };
      case 'conditionalWrite': {
        const method = rng.pick(['PUT', 'DELETE', 'PATCH']);
        const body =
          method === 'PUT'
            ? this.json(this.resource(rng, type))
            : method === 'PATCH'
              ? Buffer.from(JSON.stringify(jsonPatch(rng, type, h)))
              : undefined;
        if (method === 'PATCH') headers['content-type'] = 'application/json-patch+json';
        return { kind, method, path: `${p}/${type}?${this.search.query(rng, type)}`, headers, body };
      }
      case 'read': {
        const target = this.ids.pick(rng) ?? `${type}/x`;
        const suffix = rng.pick([
          '',
          '',
          '/_history/1',
          '/_history/2',
          '/_history/0',
          '/_history/x',
          '/_history/99999999999999999999',
          `?_summary=${rng.pick(['true', 'text', 'data', 'count', 'x'])}`,
          `?_elements=${rng.pick(['id', 'name', 'x,y', ''])}`,
          '?_format=xml',
          '?_pretty=true',
        ]);
        return { kind, method: rng.chance(0.1) ? 'HEAD' : 'GET', path: `${p}/${target}${suffix}`, headers: {} };
      }
      case 'history': {
        const scope = rng.pick(['', `/${type}`, `/${this.ids.pick(rng) ?? `${type}/x`}`]);
        const q = rng.pick([
          '',
          '_count=1',
          '_count=1000',
          '_count=0',
          '_since=2000-01-01',
          '_since=x',
          '_at=2024',
          `_count=${rng.int(5)}&_since=${rng.pick(['2024-01-01T00:00:00Z', '9999', '2024-02-30'])}`,
          '_sort=x',
          '_cursor=abc',
          `_cursor=${enc(hostileString(rng))}`,
        ]);
        return { kind, method: 'GET', path: `${p}${scope}/_history${q ? `?${q}` : ''}`, headers: {} };
      }
      case 'delete':
        return { kind, method: 'DELETE', path: `${p}/${this.ids.pick(rng) ?? `${type}/x`}`, headers: {} };
      case 'patch': {
        const target = this.ids.pick(rng, [type]) ?? this.ids.pick(rng) ?? `${type}/x`;
        const json = rng.chance(0.5);
        headers['content-type'] = json ? 'application/json-patch+json' : FHIR_JSON;
        const body = json
          ? Buffer.from(JSON.stringify(jsonPatch(rng, type, h)))
          : this.json(fhirPathPatch(rng, target.split('/')[0]!, this.resources, h));
        return { kind, method: 'PATCH', path: `${p}/${target}`, headers, body };
      }
      case 'search':
        return { kind, method: rng.chance(0.05) ? 'HEAD' : 'GET', path: `${p}/${type}?${this.search.query(rng, type)}`, headers: {} };
      case 'searchPost':
        headers['content-type'] = 'application/x-www-form-urlencoded';
        return {
          kind,
          method: 'POST',
          path: `${p}/${type}/_search${rng.chance(0.2) ? `?${this.search.query(rng, type)}` : ''}`,
          headers,
          body: Buffer.from(this.search.query(rng, type)),
        };
      case 'systemSearch': {
        const types = Array.from({ length: rng.count(4, 0.5) }, () => this.type(rng));
        const q = `_type=${types.join(',')}&${rng.pick(['_id=x', '_lastUpdated=gt2020', '_tag=a|b', '_text=x', '_content=a', `${this.search.resultParam(rng, types[0]!)}`, '_include:iterate=*', this.search.query(rng, types[0]!)])}`;
        if (rng.chance(0.3)) {
          headers['content-type'] = 'application/x-www-form-urlencoded';
          return { kind, method: 'POST', path: `${p}/_search`, headers, body: Buffer.from(q) };
        }
        return { kind, method: 'GET', path: `${p}?${q}`, headers: {} };
      }
      case 'compartment': {
        const comp = rng.pick(['Patient', 'Encounter', 'Practitioner', 'RelatedPerson', 'Device']);
        const id = this.ids.pick(rng, [comp])?.split('/')[1] ?? 'x';
        const target = rng.pick(['Observation', 'Condition', 'Encounter', 'MedicationRequest', 'Patient', 'Organization', '*', 'Nope']);
        return {
          kind,
          method: 'GET',
          path: `${p}/${comp}/${enc(id)}/${target}${rng.chance(0.6) ? `?${this.search.query(rng, target === '*' || target === 'Nope' ? 'Observation' : target)}` : ''}`,
          headers: {},
        };
      }
      case 'bundle':
        return {
          kind,
          method: 'POST',
          path: `${p}${rng.chance(0.97) ? '' : '/'}`,
          headers,
          body: this.json(bundle(rng, this.resources, this.search, h, this.profile === 'short' ? 100 : 3000)),
        };
      case 'validate': {
        const resource = this.resource(rng, type);
        const body = rng.chance(0.3)
          ? {
              resourceType: 'Parameters',
              parameter: [
                { name: 'resource', resource },
                { name: 'mode', valueCode: rng.pick(['create', 'update', 'delete', 'x']) },
              ],
            }
          : resource;
        const target = rng.chance(0.2) ? this.ids.pick(rng, [type]) : undefined;
        return { kind, method: 'POST', path: `${p}/${target ?? type}/$validate`, headers, body: this.json(body) };
      }
      case 'everything': {
        const focus = rng.pick(['Patient', 'Encounter']);
        const id = this.ids.pick(rng, [focus])?.split('/')[1] ?? 'x';
        const q = rng.pick([
          '',
          '_count=1',
          '_count=1000',
          '_since=2000-01-01T00:00:00Z',
          '_type=Observation,Condition',
          '_type=Nope',
          'start=2020',
          '_count=x',
          `_cursor=${enc(hostileString(rng))}`,
        ]);
        return {
          kind,
          method: rng.chance(0.8) ? 'GET' : 'POST',
          path: `${p}/${focus}/${enc(id)}/$everything${q ? `?${q}` : ''}`,
          headers: rng.chance(0.2) ? headers : {},
          body: undefined,
        };
      }
      case 'deep':
        return {
          kind,
          method: rng.pick(['POST', 'POST', 'PUT']),
          path: `${p}/${rng.pick(['Questionnaire', 'Patient', 'Bundle', 'Parameters'])}`,
          headers,
          body: this.deep(rng),
        };
      case 'malformed':
        return {
          kind,
          method: rng.pick(['POST', 'PUT', 'PATCH']),
          path: `${p}/${type}${rng.chance(0.4) ? '/fz1' : ''}`,
          headers,
          body: this.malformed(rng, type),
        };
      case 'odd':
        return this.odd(rng);
      case 'metadata':
        return {
          kind,
          method: 'GET',
          path: `${p}/metadata${rng.pick(['', '?mode=terse', '?_format=json', '?_summary=true', '?_elements=rest'])}`,
          headers: {},
        };
      default: {
        // bulk kick-offs are asynchronous jobs: keep them rare and mostly invalid
        const path = rng.pick([
          `${p}/$export`,
          `${p}/Patient/$export?_type=Observation`,
          `${p}/$export?_outputFormat=x`,
          `${p}/_bulk/jobs/${enc(hostileString(rng))}`,
          `${p}/$import`,
          `${p}/_bulk/upload/x`,
        ]);
        if (rng.chance(0.3)) headers.prefer = 'respond-async';
        return {
          kind: 'bulk',
          method: path.endsWith('$import') ? 'POST' : 'GET',
          path,
          headers,
          body: path.endsWith('$import')
            ? this.json({
                resourceType: 'Parameters',
                parameter: [{ name: 'input', part: [{ name: 'url', valueUri: rng.pick(['file:///etc/passwd', 'http://169.254.169.254/', 'x']) }] }],
              })
            : undefined,
        };
      }
    }
  }

  /** Deeply nested bodies: items in items, extensions in extensions, bundles in bundles, arrays in arrays. */
  private deep(rng: Rng): Buffer {
    const depth = rng.chance(0.3) ? rng.range(1000, this.profile === 'short' ? 5000 : 100_000) : rng.range(10, 500);
    switch (rng.int(5)) {
      case 0: {
        const open = '{"linkId":"x","type":"group","item":['.repeat(depth);
        return Buffer.from(`{"resourceType":"Questionnaire","status":"draft","item":[${open}{"linkId":"y","type":"string"}${']}'.repeat(depth)}]}`);
      }
      case 1:
        return Buffer.from(
          `{"resourceType":"Patient","extension":[${'{"url":"http://x","extension":['.repeat(depth)}{"url":"http://y","valueString":"z"}${']}'.repeat(depth)}]}`,
        );
      case 2:
        return Buffer.from(
          `{"resourceType":"Bundle","type":"collection","entry":[${'{"resource":{"resourceType":"Bundle","type":"collection","entry":['.repeat(depth)}${']}}'.repeat(depth)}]}`,
        );
      case 3:
        return Buffer.from(`{"resourceType":"Patient","name":${'['.repeat(depth)}${']'.repeat(depth)}}`);
      default:
        return Buffer.from(
          `{"resourceType":"Parameters","parameter":[${'{"name":"p","part":['.repeat(depth)}{"name":"v","valueString":"x"}${']}'.repeat(depth)}]}`,
        );
    }
  }

  /** Bodies that are not what they claim: broken JSON, invalid UTF-8, duplicate keys, the wrong type. */
  private malformed(rng: Rng, type: string): Buffer {
    const good = toJson(this.resources.resource(rng, type, { hostility: 0 }));
    switch (rng.int(12)) {
      case 0:
        return Buffer.from(good.slice(0, rng.int(good.length)));
      case 1: {
        const b = Buffer.from(good);
        const bad = Buffer.from(rng.pick([[0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xe2, 0x82], [0x80]]));
        const at = rng.int(b.length);
        return Buffer.concat([b.subarray(0, at), bad, b.subarray(at)]);
      }
      case 2:
        return Buffer.from(`{"resourceType":"${type}","resourceType":"Patient","id":"a","id":"b"}`);
      case 3:
        return Buffer.from(
          rng.pick([
            '',
            ' ',
            'null',
            '[]',
            '"x"',
            '1',
            'true',
            '{}',
            '{"resourceType":null}',
            '{"resourceType":1}',
            '{"resourceType":"Nope"}',
            '{"resourceType":""}',
            '\ufeff{}',
            '{"__proto__":{"x":1},"resourceType":"Patient"}',
            '{"resourceType":"Patient","constructor":{"prototype":{"x":1}}}',
          ]),
        );
      case 4:
        return Buffer.from(toJson({ resourceType: rng.pick(this.resources.resourceTypes.filter((t) => t !== type)), id: 'fz1' }));
      case 5:
        return Buffer.from(`${good}${rng.pick(['x', '}', ',', '\u0000', ' {}', '\n\n'])}`);
      case 6:
        return Buffer.from(good.replace(/":/, rng.pick(['":\u0000', '"::', '":,'])));
      case 7:
        return Buffer.from(good, 'utf16le');
      case 8:
        return Buffer.from(
          toJson({
            resourceType: type,
            text: { status: 'generated', div: new RawJson(JSON.stringify(this.resources.xhtml(rng, { hostility: 1, maxDepth: 1, optional: 0 }))) },
          }),
        );
      case 9:
        // a huge but otherwise fine resource: many repeated elements
        return Buffer.from(
          toJson({
            resourceType: 'Patient',
            name: Array.from({ length: rng.range(1000, this.profile === 'short' ? 5000 : 50_000) }, (_, i) => ({ family: `F${i}`, given: ['G'] })),
          }),
        );
      case 10:
        return Buffer.from(
          toJson({
            resourceType: type,
            id: 'x',
            meta: {
              versionId: hostileString(rng),
              lastUpdated: rng.pick(['x', '2024-13-01T00:00:00Z', '']),
              profile: [hostileString(rng)],
              tag: [{ system: hostileString(rng), code: hostileString(rng) }],
            },
          }),
        );
      default:
        return Buffer.from(
          toJson({
            resourceType: type,
            [rng.pick(['unknownElement', '_unknown', 'extension', 'contained', 'meta', 'text', 'id'])]: rng.pick<unknown>([
              hostileString(rng),
              1,
              [],
              {},
              null,
              [null],
              [[1]],
              { resourceType: 'Patient' },
            ]),
          }),
        );
    }
  }

  /** Odd URLs and methods around the API. */
  private odd(rng: Rng): FuzzRequest {
    const p = this.prefix;
    const path = rng.pick([
      `${p}/Nope`,
      `${p}/patient`,
      `${p}/Patient/${'a'.repeat(rng.range(60, 300))}`,
      `${p}/Patient/..%2F..%2Fx`,
      `${p}/Patient/%00`,
      `${p}/Patient/x/y/z/w`,
      `${p}/Patient/$nope`,
      `${p}/$nope`,
      `${p}//Patient`,
      `${p}/Patient?`,
      `${p}/Patient?&&&`,
      `${p}/Patient?=x`,
      `${p}/Patient?name=%`,
      `${p}/Patient?name=%ZZ`,
      `${p}/Patient?name=%ED%A0%80`,
      `${p}/Patient?name=%FF`,
      `${p}/Patient?name[]=x`,
      `${p}/Patient?name=a&name[$ne]=1`,
      `${p}/Patient?${'a'.repeat(rng.range(1000, 300_000))}=1`,
      `${p}/Patient/x/_history/1/y`,
      `${p}/Patient/_search?x`,
      `${p}/_history?_count=${hostileString(rng)}`,
      `${p}/${enc(hostileString(rng))}`,
      `${p}/Patient/${enc(hostileString(rng))}`,
      '/',
      '/healthz',
      '/readyz',
      '/fhir/../healthz',
      '/nope',
    ]);
    const method = rng.pick(['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD']);
    const body = ['POST', 'PUT', 'PATCH'].includes(method) ? Buffer.from('{"resourceType":"Patient"}') : undefined;
    return { kind: 'odd', method, path, headers: body ? { 'content-type': FHIR_JSON } : {}, body };
  }
}
