/**
 * PATCH (http.html#patch) with JSON Patch and FHIRPath Patch over HTTP: versions, validation of the result,
 * If-Match, conditional patch, and errors.
 */
import { useServer } from '../harness';

let id: string;
const server = useServer();
beforeAll(async () => {
  const res = await server.request('POST', '/Patient', {
    body: {
      resourceType: 'Patient',
      identifier: [{ system: 'https://healthid.abdm.gov.in', value: '12-3456-7890-1234' }],
      name: [{ family: 'Sharma', given: ['Priya'] }],
      gender: 'female',
      birthDate: '1990-02-03',
    },
  });
  id = res.body.id;
});

const jsonPatch = (ops: unknown, headers: Record<string, string> = {}) => ({
  body: ops,
  headers: { 'content-type': 'application/json-patch+json', ...headers },
});

test('JSON Patch applies, creates a version and validates the result', async () => {
  const res = await server.request(
    'PATCH',
    `/Patient/${id}`,
    jsonPatch([
      { op: 'replace', path: '/gender', value: 'other' },
      { op: 'add', path: '/name/0/given/-', value: 'Devi' },
      { op: 'test', path: '/birthDate', value: '1990-02-03' },
    ]),
  );
  expect(res.status).toBe(200);
  expect(res.body.gender).toBe('other');
  expect(res.body.name[0].given).toEqual(['Priya', 'Devi']);
  expect(res.headers.get('etag')).toBe('W/"2"');

  const invalid = await server.request('PATCH', `/Patient/${id}`, jsonPatch([{ op: 'replace', path: '/gender', value: 'F' }]));
  expect(invalid.status).toBe(400);
  expect(invalid.body.issue[0].expression).toEqual(['Patient.gender']);

  const failedTest = await server.request('PATCH', `/Patient/${id}`, jsonPatch([{ op: 'test', path: '/gender', value: 'male' }]));
  expect(failedTest.status).toBe(422);
  const changeId = await server.request('PATCH', `/Patient/${id}`, jsonPatch([{ op: 'replace', path: '/id', value: 'other' }]));
  expect(changeId.status).toBe(422);
  const notArray = await server.request('PATCH', `/Patient/${id}`, jsonPatch({ op: 'remove' }));
  expect(notArray.status).toBe(400);
  expect((await server.request('GET', `/Patient/${id}`)).body.meta.versionId).toBe('2');
});

test('FHIRPath Patch (Parameters) applies', async () => {
  const res = await server.request('PATCH', `/Patient/${id}`, {
    body: {
      resourceType: 'Parameters',
      parameter: [
        {
          name: 'operation',
          part: [
            { name: 'type', valueCode: 'replace' },
            { name: 'path', valueString: 'Patient.birthDate' },
            { name: 'value', valueDate: '1991-04-05' },
          ],
        },
        {
          name: 'operation',
          part: [
            { name: 'type', valueCode: 'delete' },
            { name: 'path', valueString: 'Patient.name[0].given[1]' },
          ],
        },
      ],
    },
  });
  expect(res.status).toBe(200);
  expect(res.body.birthDate).toBe('1991-04-05');
  expect(res.body.name[0].given).toEqual(['Priya']);
});

test('If-Match on PATCH; deleted and unknown targets; conditional patch', async () => {
  const cur = (await server.request('GET', `/Patient/${id}`)).body.meta.versionId;
  const stale = await server.request(
    'PATCH',
    `/Patient/${id}`,
    jsonPatch([{ op: 'replace', path: '/gender', value: 'male' }], { 'if-match': 'W/"1"' }),
  );
  expect(stale.status).toBe(412);
  const fresh = await server.request(
    'PATCH',
    `/Patient/${id}`,
    jsonPatch([{ op: 'replace', path: '/gender', value: 'male' }], { 'if-match': `W/"${cur}"` }),
  );
  expect(fresh.status).toBe(200);
  expect((await server.request('PATCH', '/Patient/unknown', jsonPatch([]))).status).toBe(404);
  const cond = await server.request(
    'PATCH',
    '/Patient?identifier=https://healthid.abdm.gov.in|12-3456-7890-1234',
    jsonPatch([{ op: 'add', path: '/active', value: true }]),
  );
  expect(cond.status).toBe(200);
  expect(cond.body.id).toBe(id);
  expect(cond.body.active).toBe(true);
  const none = await server.request('PATCH', '/Patient?identifier=https://healthid.abdm.gov.in|00', jsonPatch([]));
  expect(none.status).toBe(404);
});

test('a PATCH body that is neither JSON Patch nor Parameters → 400', async () => {
  const res = await server.request('PATCH', `/Patient/${id}`, { body: { resourceType: 'Patient' } });
  expect(res.status).toBe(400);
});
