/**
 * Headers and content negotiation (http.html): ETag, Last-Modified, Location, If-Match (412), If-None-Match and
 * If-Modified-Since (304), Prefer return=minimal|representation|OperationOutcome, _format, _pretty, _summary,
 * _elements, XML → 406/415.
 */
import { useServer } from '../harness';

let id: string;
const server = useServer();
beforeAll(async () => {
  const res = await server.request('POST', '/Patient', {
    body: {
      resourceType: 'Patient',
      text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">Ravi Kumar</div>' },
      identifier: [{ system: 'https://healthid.abdm.gov.in', value: '91-1234-5678-9012' }],
      active: true,
      name: [{ family: 'Kumar', given: ['Ravi'] }],
      gender: 'male',
      birthDate: '1984-05-06',
      contact: [{ name: { text: 'Sita Kumar' }, gender: 'female' }],
    },
  });
  id = res.body.id;
});

describe('version headers and preconditions', () => {
  test('If-Match: stale version → 412, current → 200, malformed → 400', async () => {
    const current = (await server.request('GET', `/Patient/${id}`)).body;
    const stale = await server.request('PUT', `/Patient/${id}`, { body: { ...current, active: false }, headers: { 'if-match': 'W/"7"' } });
    expect(stale.status).toBe(412);
    const ok = await server.request('PUT', `/Patient/${id}`, { body: { ...current, active: false }, headers: { 'if-match': 'W/"1"' } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('etag')).toBe('W/"2"');
    expect(ok.headers.get('content-location')).toBe(`${server.base}/Patient/${id}/_history/2`);
    const again = await server.request('PUT', `/Patient/${id}`, { body: { ...current, active: true }, headers: { 'if-match': 'W/"1"' } });
    expect(again.status).toBe(412);
    const bad = await server.request('PUT', `/Patient/${id}`, { body: current, headers: { 'if-match': 'nonsense' } });
    expect(bad.status).toBe(400);
    const del = await server.request('DELETE', `/Patient/${id}`, { headers: { 'if-match': 'W/"1"' } });
    expect(del.status).toBe(412);
  });

  test('If-None-Match and If-Modified-Since give 304 when the client copy is current', async () => {
    const read = await server.request('GET', `/Patient/${id}`);
    const tag = read.headers.get('etag')!;
    expect((await server.request('GET', `/Patient/${id}`, { headers: { 'if-none-match': tag } })).status).toBe(304);
    expect((await server.request('GET', `/Patient/${id}`, { headers: { 'if-none-match': 'W/"999"' } })).status).toBe(200);
    const lm = read.headers.get('last-modified')!;
    expect((await server.request('GET', `/Patient/${id}`, { headers: { 'if-modified-since': lm } })).status).toBe(304);
    const earlier = new Date(Date.parse(lm) - 60_000).toUTCString();
    expect((await server.request('GET', `/Patient/${id}`, { headers: { 'if-modified-since': earlier } })).status).toBe(200);
  });
});

describe('Prefer', () => {
  const body = { resourceType: 'Organization', name: 'Arogya Hospital, Pune', active: true };
  test('return=minimal sends no body', async () => {
    const res = await server.request('POST', '/Organization', { body, headers: { prefer: 'return=minimal' } });
    expect(res.status).toBe(201);
    expect(res.text).toBe('');
    expect(res.headers.get('location')).toMatch(/\/Organization\/[0-9a-f-]+\/_history\/1$/);
  });
  test('return=representation (the default) sends the resource', async () => {
    const res = await server.request('POST', '/Organization', { body, headers: { prefer: 'return=representation' } });
    expect(res.body.resourceType).toBe('Organization');
  });
  test('return=OperationOutcome sends an outcome with the validation warnings', async () => {
    const res = await server.request('POST', '/Organization', { body, headers: { prefer: 'return=OperationOutcome' } });
    expect(res.status).toBe(201);
    expect(res.body.resourceType).toBe('OperationOutcome');
    // no narrative: dom-6 is a warning, reported but not blocking
    expect(
      res.body.issue.some((i: { severity: string; diagnostics: string }) => i.severity === 'warning' && /dom-6|narrative/i.test(i.diagnostics)),
    ).toBe(true);
  });
});

describe('formats', () => {
  test('_format and Accept select JSON; XML is refused with 406; application/json is honoured', async () => {
    expect((await server.request('GET', `/Patient/${id}?_format=json`)).status).toBe(200);
    expect((await server.request('GET', `/Patient/${id}?_format=application/fhir%2Bjson`)).status).toBe(200);
    const xml = await server.request('GET', `/Patient/${id}?_format=xml`);
    expect(xml.status).toBe(406);
    expect(xml.body.resourceType).toBe('OperationOutcome');
    expect((await server.request('GET', `/Patient/${id}`, { headers: { accept: 'application/fhir+xml' } })).status).toBe(406);
    const json = await server.request('GET', `/Patient/${id}`, { headers: { accept: 'application/json' } });
    expect(json.headers.get('content-type')).toBe('application/json; charset=utf-8');
    const any = await server.request('GET', `/Patient/${id}`, { headers: { accept: 'text/html, */*;q=0.8' } });
    expect(any.status).toBe(200);
  });

  test('an XML-only Accept is 406 on every FHIR endpoint, before anything is written', async () => {
    const xml = { accept: 'application/fhir+xml' };
    const before = (await server.request('GET', '/Organization?name=Negotiated&_total=accurate')).body.total;
    for (const [method, path, body] of [
      ['GET', '/Patient?gender=male'],
      ['GET', '/_history'],
      ['GET', '/metadata'],
      ['POST', '/Organization', { resourceType: 'Organization', name: 'Negotiated' }],
      [
        'POST',
        '/',
        {
          resourceType: 'Bundle',
          type: 'batch',
          entry: [{ resource: { resourceType: 'Organization', name: 'Negotiated' }, request: { method: 'POST', url: 'Organization' } }],
        },
      ],
    ] as [string, string, object?][]) {
      const res = await server.request(method, path, { body, headers: xml });
      expect([method, path, res.status, res.body.resourceType]).toEqual([method, path, 406, 'OperationOutcome']);
    }
    expect((await server.request('GET', '/Organization?name=Negotiated&_total=accurate')).body.total).toBe(before);
  });

  test('Prefer preferences combine in one header: return=minimal with handling=lenient', async () => {
    const res = await server.request('POST', '/Organization', {
      body: { resourceType: 'Organization', name: 'Prefer both' },
      headers: { prefer: 'handling=lenient, return=minimal' },
    });
    expect(res.status).toBe(201);
    expect(res.text).toBe('');
    const search = await server.request('GET', '/Organization?name=Prefer%20both&nonsense=1', {
      headers: { prefer: 'return=minimal; handling=lenient' },
    });
    expect(search.status).toBe(200);
    expect(search.body.entry[0].resource.name).toBe('Prefer both');
  });

  test('an XML body is 415', async () => {
    const res = await server.request('POST', '/Patient', {
      body: '<Patient xmlns="http://hl7.org/fhir"><gender value="male"/></Patient>',
      headers: { 'content-type': 'application/fhir+xml' },
    });
    expect(res.status).toBe(415);
    expect(res.body.resourceType).toBe('OperationOutcome');
  });

  test('_pretty indents the output', async () => {
    const res = await server.request('GET', `/Patient/${id}?_pretty=true`);
    expect(res.text).toContain('\n  "resourceType": "Patient"');
    expect((await server.request('GET', `/Patient/${id}`)).text).not.toContain('\n');
  });

  test('_summary and _elements subset the resource and mark it SUBSETTED', async () => {
    const summary = (await server.request('GET', `/Patient/${id}?_summary=true`)).body;
    expect(summary.name).toBeDefined();
    expect(summary.text).toBeUndefined();
    expect(summary.contact).toBeUndefined(); // Patient.contact is not a summary element
    expect(summary.meta.tag).toContainEqual(expect.objectContaining({ code: 'SUBSETTED' }));
    const text = (await server.request('GET', `/Patient/${id}?_summary=text`)).body;
    expect(Object.keys(text).sort()).toEqual(['id', 'meta', 'resourceType', 'text']);
    const data = (await server.request('GET', `/Patient/${id}?_summary=data`)).body;
    expect(data.text).toBeUndefined();
    expect(data.contact).toBeDefined();
    const elements = (await server.request('GET', `/Patient/${id}?_elements=gender,birthDate`)).body;
    expect(Object.keys(elements).sort()).toEqual(['birthDate', 'gender', 'id', 'meta', 'resourceType']);
    expect((await server.request('GET', `/Patient/${id}?_summary=bogus`)).status).toBe(400);
  });
});
