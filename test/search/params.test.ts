/**
 * Search parameter types, modifiers and prefixes (search.html), with expected result sets computed by hand from
 * test/search/fixtures.ts: string, token, date, number, quantity (UCUM), uri, reference, composite, the common
 * parameters (_id, _lastUpdated, _tag, _profile, _security, _source, _text, _content, _list) and :missing.
 */
import { useServer } from '../harness';
import { LOINC, NHID, UCUM, loadFixtures, matchIds } from './fixtures';

const server = useServer({ setup: loadFixtures });

const q = (query: string) => matchIds(server, query);
const enc = encodeURIComponent;

describe('string', () => {
  test('default: case- and accent-insensitive starts-with, on any name part', async () => {
    expect(await q('/Patient?family=mul')).toEqual(['p1']);
    expect(await q('/Patient?family=MÜL')).toEqual(['p1']);
    expect(await q('/Patient?family=mu')).toEqual(['p1', 'p2']);
    expect(await q('/Patient?name=an')).toEqual(['p1', 'p4']); // Anna, Ana
    expect(await q('/Patient?name=garcia')).toEqual(['p4']);
    // a name's text is searched, its `use` is not (search.html#string: the string parts of a HumanName)
    expect(await q('/Patient?name=anita')).toEqual(['p4']);
    expect(await q('/Patient?name=nickname')).toEqual([]);
    expect(await q('/Patient?address-city=pu')).toEqual(['p1']);
    expect(await q('/Patient?address=maha')).toEqual(['p1']);
  });
  test('phonetic: names that sound alike (Soundex), family or given', async () => {
    expect(await q('/Patient?phonetic=Miller')).toEqual(['p1', 'p2']); // Müller, Mueller: M460
    expect(await q('/Patient?phonetic=Smyth')).toEqual(['p3']);
    expect(await q('/Patient?phonetic=Garsia')).toEqual(['p4']);
    expect(await q('/Patient?phonetic=Anah')).toEqual(['p1', 'p4']); // given Anna, Ana
    expect(await q('/Patient?phonetic=Aneeta')).toEqual(['p4']); // a word of a name's text (Anita)
    expect(await q('/Patient?phonetic=Jones')).toEqual([]);
    expect(await q('/Patient?phonetic=Smyth,Bobb')).toEqual(['p2', 'p3']);
    expect(await q('/Patient?phonetic:missing=true')).toEqual([]);
    expect((await server.request('GET', '/Patient?phonetic:exact=Smith')).status).toBe(400);
    expect((await server.request('GET', '/Patient?phonetic=%20')).status).toBe(400);
    expect((await server.request('GET', '/Patient?_sort=phonetic')).status).toBe(400);
  });
  test(':exact and :contains', async () => {
    expect(await q('/Patient?family:exact=Müller')).toEqual(['p1']);
    expect(await q('/Patient?family:exact=müller')).toEqual([]);
    expect(await q('/Patient?family:exact=Mul')).toEqual([]);
    expect(await q('/Patient?family:contains=ELL')).toEqual(['p2']);
    expect(await q('/Patient?family:contains=ller')).toEqual(['p1', 'p2']);
    expect(await q('/Organization?name:contains=hall')).toEqual(['org1']);
  });
  test('comma is OR, repetition is AND', async () => {
    expect(await q('/Patient?family=smith,garc')).toEqual(['p3', 'p4']);
    expect(await q('/Patient?name=ana&name=gar')).toEqual(['p4']);
    expect(await q('/Patient?name=ana&name=smith')).toEqual([]);
  });
});

describe('token', () => {
  test('code, system|code, |code, system|', async () => {
    expect(await q('/Patient?gender=female')).toEqual(['p1', 'p4']);
    expect(await q('/Patient?gender=female,male')).toEqual(['p1', 'p2', 'p4']);
    expect(await q(`/Observation?code=${LOINC}|8480-6`)).toEqual(['o1', 'o4']);
    expect(await q('/Observation?code=8480-6')).toEqual(['o1', 'o4']);
    expect(await q('/Observation?code=http://other|8480-6')).toEqual([]);
    expect(await q(`/Observation?code=${LOINC}|`)).toEqual(['o1', 'o2', 'o3', 'o4']);
    expect(await q('/Patient?gender=|female')).toEqual(['p1', 'p4']); // code without a system
    expect(await q('/Patient?active=true')).toEqual(['p1']);
    expect(await q('/Patient?deceased=true')).toEqual(['p4']);
    expect(await q('/Patient?telecom=phone|555-1000')).toEqual(['p1']);
    expect(await q('/Patient?phone=555-1000')).toEqual(['p1']);
  });
  test(':not includes resources without the value', async () => {
    expect(await q('/Patient?gender:not=female')).toEqual(['p2', 'p3']);
    expect(await q('/Observation?status:not=final')).toEqual(['o4']);
  });
  test(':text searches display and text', async () => {
    expect(await q('/Observation?code:text=systolic')).toEqual(['o1', 'o4']);
    expect(await q('/Observation?code:text=dengue')).toEqual(['o5']);
    expect(await q('/Patient?identifier:text=health')).toEqual(['p1', 'p2']);
  });
  test(':in and :not-in against stored ValueSets', async () => {
    expect(await q('/Observation?code:in=http://example.org/vs/bp')).toEqual(['o1', 'o4']);
    expect(await q('/Observation?code:in=http://example.org/vs/all-cs')).toEqual(['o6']);
    expect(await q('/Observation?code:not-in=http://example.org/vs/bp')).toEqual(['o2', 'o3', 'o5', 'o6']);
    const missing = await server.request('GET', '/Observation?code:in=http://example.org/vs/nope');
    expect(missing.status).toBe(400);
  });
  test(':below and :above over a stored CodeSystem hierarchy', async () => {
    expect(await q('/Observation?code:below=http://example.org/cs|A')).toEqual(['o6']);
    expect(await q('/Observation?code:below=http://example.org/cs|B')).toEqual([]);
    expect(await q('/Observation?code:above=http://example.org/cs|A11')).toEqual(['o6']);
    expect(await q('/Observation?code:above=http://example.org/cs|A1')).toEqual([]);
  });
  test(':of-type matches identifier type system|code|value', async () => {
    const t = 'https://nrces.in/ndhm/fhir/r4/CodeSystem/ndhm-identifier-type-code';
    expect(await q(`/Patient?identifier:of-type=${enc(`${t}|HIN|91-1234-5678-9012`)}`)).toEqual(['p1']);
    expect(await q(`/Patient?identifier:of-type=${enc(`${t}|HIN|91123456789012`)}`)).toEqual(['p1']);
    expect(await q(`/Patient?identifier:of-type=${enc(`${t}|ABHA|91123456789012`)}`)).toEqual([]);
  });
});

describe('date', () => {
  test('precision ranges and prefixes', async () => {
    expect(await q('/Patient?birthdate=1980')).toEqual(['p1']);
    expect(await q('/Patient?birthdate=1980-05')).toEqual(['p1']);
    expect(await q('/Patient?birthdate=1980-05-15')).toEqual(['p1']);
    expect(await q('/Patient?birthdate=1980-05-16')).toEqual([]);
    expect(await q('/Patient?birthdate=1975-06-01')).toEqual([]); // p2's 1975 is wider than the day: not contained
    expect(await q('/Patient?birthdate=1975')).toEqual(['p2']);
    expect(await q('/Patient?birthdate=gt1979')).toEqual(['p1', 'p3']);
    expect(await q('/Patient?birthdate=ge1980-05-15')).toEqual(['p1', 'p3']);
    expect(await q('/Patient?birthdate=lt1980-05-15')).toEqual(['p2']);
    expect(await q('/Patient?birthdate=le1980-05-15')).toEqual(['p1', 'p2']);
    expect(await q('/Patient?birthdate=ne1980-05-15')).toEqual(['p2', 'p3']);
    expect(await q('/Patient?birthdate=sa1980-05-15')).toEqual(['p3']);
    expect(await q('/Patient?birthdate=eb1980-05-15')).toEqual(['p2']);
    expect(await q('/Patient?birthdate=ap1980-05-15')).toEqual(['p1', 'p2']); // ±10% of ~45 years reaches 1975
    expect(await q('/Patient?birthdate=ge1976&birthdate=lt1985')).toEqual(['p1']);
  });
  test('instants, periods and the server time zone', async () => {
    expect(await q('/Observation?date=2024-03-01')).toEqual(['o1']);
    expect(await q(`/Observation?date=${enc('2024-03-01T10:00:00Z')}`)).toEqual(['o1']);
    expect(await q(`/Observation?date=${enc('2024-03-01T15:30:00+05:30')}`)).toEqual(['o1']);
    expect(await q('/Observation?date=2024-02')).toEqual(['o3']); // the period lies within February
    expect(await q('/Observation?date=2024-02-05')).toEqual([]); // a day does not contain the period
    // ap: 10% of the distance from now (search.html#prefix), so the window depends on today
    const ap = await q('/Observation?date=ap2024-02-05');
    expect(ap).toContain('o3');
    expect(ap).not.toContain('o6');
    expect(await q('/Observation?date=gt2024-02-05')).toEqual(['o1', 'o2', 'o3']);
    expect(await q('/Observation?date=2023')).toEqual(['o4']);
    expect(await q('/Encounter?date=ge2024')).toEqual(['e1', 'e2']); // e2's period is open-ended
    expect(await q('/Encounter?date=gt2030')).toEqual(['e2']); // e2's period has no end
  });
});

describe('number and quantity', () => {
  test('number with implied precision and prefixes', async () => {
    expect(await q('/RiskAssessment?probability=0.25')).toEqual(['ra1']);
    expect(await q('/RiskAssessment?probability=0.3')).toEqual(['ra1']); // 0.3 means [0.25, 0.35)
    expect(await q('/RiskAssessment?probability=0.2')).toEqual([]); // [0.15, 0.25)
    expect(await q('/RiskAssessment?probability=gt0.5')).toEqual(['ra2']);
    expect(await q('/RiskAssessment?probability=le0.25')).toEqual(['ra1']);
    expect(await q('/RiskAssessment?probability=ne0.25')).toEqual(['ra2']);
    expect(await q('/RiskAssessment?probability=ap0.69')).toEqual(['ra2']);
  });
  test('quantity with units, UCUM conversion and prefixes', async () => {
    expect(await q(`/Observation?value-quantity=120|${UCUM}|mm[Hg]`)).toEqual(['o1']);
    expect(await q('/Observation?value-quantity=120')).toEqual(['o1']);
    expect(await q(`/Observation?value-quantity=gt130|${UCUM}|mm[Hg]`)).toEqual(['o4']);
    expect(await q(`/Observation?value-quantity=140.5||mm[Hg]`)).toEqual(['o4']);
    // 70 kg and 70000 g are the same quantity
    expect(await q(`/Observation?value-quantity=70|${UCUM}|kg`)).toEqual(['o2', 'o3']);
    expect(await q(`/Observation?value-quantity=70000|${UCUM}|g`)).toEqual(['o2', 'o3']);
    expect(await q(`/Observation?value-quantity=lt100000|${UCUM}|mg`)).toEqual([]);
    expect(await q(`/Observation?value-quantity=ge3.5|${UCUM}|mmol/L`)).toEqual(['o6']);
  });
  test('composite code$value', async () => {
    expect(await q(`/Observation?code-value-quantity=${enc(`${LOINC}|8480-6$gt125|${UCUM}|mm[Hg]`)}`)).toEqual(['o4']);
    expect(await q(`/Observation?code-value-quantity=${enc(`8480-6$120`)}`)).toEqual(['o1']);
    expect(await q(`/Observation?code-value-quantity=${enc(`29463-7$70|${UCUM}|kg`)}`)).toEqual(['o2', 'o3']);
    expect(await q(`/Observation?code-value-string=${enc('$positive')}`)).toEqual([]);
  });
});

describe('uri, reference and common parameters', () => {
  test('uri exact, :below, :above', async () => {
    expect(await q('/ValueSet?url=http://example.org/vs/bp')).toEqual(['vs1']);
    expect(await q('/ValueSet?url=http://example.org/vs')).toEqual([]);
    expect(await q('/ValueSet?url:below=http://example.org/vs')).toEqual(['vs1', 'vs2']);
    expect(await q('/ValueSet?url:above=http://example.org/vs/bp/extra')).toEqual(['vs1']);
  });
  test('reference by id, Type/id, absolute URL, :[type], :identifier', async () => {
    expect(await q('/Observation?subject=Patient/p1')).toEqual(['o1', 'o2']);
    expect(await q('/Observation?subject=p1')).toEqual(['o1', 'o2']);
    expect(await q(`/Observation?subject=${enc(`${server.base}/Patient/p2`)}`)).toEqual(['o3', 'o4']);
    expect(await q('/Observation?subject:Patient=p3')).toEqual(['o5', 'o6']);
    expect(await q('/Observation?patient=p1,p3')).toEqual(['o1', 'o2', 'o5', 'o6']);
    expect(await q('/Observation?encounter=Encounter/e1')).toEqual(['o1']);
    expect(await q('/Organization?partof=org1')).toEqual(['org2']);
    expect((await server.request('GET', '/Observation?subject:Organization=p1')).status).toBe(400);
    await server.request('PUT', '/Observation/o-ext', {
      body: {
        resourceType: 'Observation',
        id: 'o-ext',
        status: 'final',
        code: { text: 'x' },
        subject: { identifier: { system: NHID, value: '33-3333-3333-3333' }, display: 'External' },
      },
    });
    expect(await q(`/Observation?subject:identifier=${enc(`${NHID}|33333333333333`)}`)).toEqual(['o-ext']);
    await server.request('DELETE', '/Observation/o-ext');
  });
  test('_id, _lastUpdated, _tag, _profile, _security, _source', async () => {
    expect(await q('/Patient?_id=p1,p3')).toEqual(['p1', 'p3']);
    expect(await q('/Patient?_lastUpdated=gt2000-01-01&_id=p2')).toEqual(['p2']);
    expect(await q('/Patient?_lastUpdated=lt2000-01-01')).toEqual([]);
    expect(await q('/Patient?_tag=urn:tags|vip')).toEqual(['p1']);
    expect(await q('/Patient?_profile=http://example.org/StructureDefinition/hms-patient')).toEqual(['p1']);
    expect(await q('/Patient?_security=R')).toEqual(['p1']);
    expect(await q('/Patient?_source=http://source.example/ehr-a')).toEqual(['p1']);
  });
  test('_text, _content and _list', async () => {
    expect(await q('/Patient?_text=pune')).toEqual(['p1']);
    expect(await q('/Patient?_text=anna%20pune')).toEqual(['p1']);
    expect(await q('/Patient?_text=mumbai')).toEqual([]);
    expect(await q('/Patient?_content=mumbai')).toEqual(['p2']);
    expect(await q('/Observation?_content=dengue')).toEqual(['o5']);
    expect(await q('/Observation?_list=l1')).toEqual(['o1', 'o3']);
    expect(await q('/Patient?_list=l1')).toEqual(['p3']);
  });
  test(':missing on every parameter type', async () => {
    expect(await q('/Patient?birthdate:missing=true')).toEqual(['p4']);
    expect(await q('/Patient?birthdate:missing=false')).toEqual(['p1', 'p2', 'p3']);
    expect(await q('/Patient?address:missing=true')).toEqual(['p3', 'p4']);
    expect(await q('/Patient?identifier:missing=true')).toEqual(['p4']);
    expect(await q('/Observation?value-quantity:missing=true')).toEqual(['o5']);
    expect(await q('/Observation?encounter:missing=false')).toEqual(['o1']);
    expect(await q('/RiskAssessment?probability:missing=false')).toEqual(['ra1', 'ra2']);
    expect(await q('/ValueSet?url:missing=false')).toEqual(['vs1', 'vs2']);
  });
});

describe('national health ids (ABHA / NHID)', () => {
  test('hyphenated and bare forms, legacy system alias, no system', async () => {
    expect(await q(`/Patient?identifier=${enc(`${NHID}|91-1234-5678-9012`)}`)).toEqual(['p1']);
    expect(await q(`/Patient?identifier=${enc(`${NHID}|91123456789012`)}`)).toEqual(['p1']);
    expect(await q(`/Patient?identifier=${enc(`https://healthid.ndhm.gov.in|91-1234-5678-9012`)}`)).toEqual(['p1']);
    expect(await q(`/Patient?identifier=${enc(`${NHID}|22-7225-4829-5255`)}`)).toEqual(['p2']); // stored under the legacy system
    expect(await q(`/Patient?identifier=${enc(`${NHID}|12-3456-7890-1234`)}`)).toEqual(['p3']); // stored bare
    expect(await q('/Patient?identifier=91-1234-5678-9012')).toEqual(['p1']);
    expect(await q('/Patient?identifier=22722548295255')).toEqual(['p2']);
    expect(await q('/Patient?identifier=urn:hms:mrn|MRN-3')).toEqual(['p3']);
    // the stored resource keeps what the client sent
    const p2 = await server.request('GET', '/Patient/p2');
    expect(p2.body.identifier[0]).toMatchObject({ system: 'https://healthid.ndhm.gov.in', value: '22-7225-4829-5255' });
  });
  test('hundreds of identifiers in one POST _search', async () => {
    const ids = Array.from({ length: 400 }, (_, i) => `${NHID}|${String(10000000000000 + i * 7919)}`);
    ids.splice(123, 0, `${NHID}|91-1234-5678-9012`);
    ids.push(`${NHID}|22-7225-4829-5255`);
    const res = await server.request('POST', '/Patient/_search', {
      body: new URLSearchParams({ identifier: ids.join(',') }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(res.status).toBe(200);
    expect(res.body.entry.map((e: { resource: { id: string } }) => e.resource.id).sort()).toEqual(['p1', 'p2']);
    // and by GET, within the documented URL limit
    const get = await matchIds(server, `/Patient?identifier=${enc(ids.join(','))}`);
    expect(get).toEqual(['p1', 'p2']);
  });
});
