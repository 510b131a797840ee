/**
 * Stock items over FHIR (HMS-DOMAIN §0 "stock item", "corrections"; §4.11): readable and searchable (by code,
 * subject, author and the server's `stock-location` parameter), and guarded: a client's PUT or PATCH needs
 * If-Match (428 without, 412 stale), `stock-reserved` is server-owned (422 when a client sets or changes it).
 */
import { useServer, type Json } from '../harness';
import { create, EXT, hospital, medication, quantityExt, read, search, STOCK_ITEM, stockItem, stockItemBody, type Hospital } from './hms-dispensary';

const server = useServer();
let h: Hospital;
let other: Hospital;
let para: Json;
let item: Json;

beforeAll(async () => {
  h = await hospital(server);
  other = await hospital(server);
  para = await medication(server, { code: '322236009', text: 'Paracetamol 500 mg tablet' }, { lot: 'PCM24A', expiry: '2027-08-31' });
  item = await stockItem(server, h, para, 200);
  await stockItem(server, other, para, 50);
});

test('a stock item reads back as written and is found by dispensary, product and owner', async () => {
  expect(quantityExt(await read(server, `Basic/${item.id}`), EXT.onHand)).toBe(200);
  const atPharmacy = await search(server, `Basic?code=${STOCK_ITEM}&stock-location=Location/${h.pharmacy.id}`);
  expect(atPharmacy.map((r) => r.id)).toEqual([item.id]);
  const byProduct = await search(server, `Basic?code=${STOCK_ITEM}&subject=Medication/${para.id}`);
  expect(byProduct).toHaveLength(2);
  const byOwner = await search(server, `Basic?author=Organization/${other.org.id}`);
  expect(byOwner.map((r) => quantityExt(r, EXT.onHand))).toEqual([50]);
  const caps = await server.request('GET', '/metadata');
  const basic = caps.body.rest[0].resource.find((r: Json) => r.type === 'Basic');
  expect(basic.searchParam.map((p: Json) => p.name)).toContain('stock-location');
});

test('a client may not create a stock item with a reservation (422)', async () => {
  const res = await server.request('POST', '/Basic', { body: stockItemBody(h, para, 10, { reserved: 5 }) });
  expect(res.status).toBe(422);
  expect(res.body.resourceType).toBe('OperationOutcome');
  expect(res.text).toMatch(/stock-reserved/);
  // 0 is fine
  const zero = await server.request('POST', '/Basic', { body: stockItemBody(h, para, 10, { reserved: 0 }) });
  expect(zero.status).toBe(201);
});

test('a correction PUT needs If-Match: 428 without, 412 stale, 200 current', async () => {
  const cur = await read(server, `Basic/${item.id}`);
  const corrected = {
    ...cur,
    extension: cur.extension.map((e: Json) => (e.url === EXT.onHand ? { ...e, valueQuantity: { ...e.valueQuantity, value: 195 } } : e)),
  };
  const without = await server.request('PUT', `/Basic/${item.id}`, { body: corrected });
  expect(without.status).toBe(428);
  expect(without.body.resourceType).toBe('OperationOutcome');
  const stale = await server.request('PUT', `/Basic/${item.id}`, { body: corrected, headers: { 'if-match': 'W/"999"' } });
  expect(stale.status).toBe(412);
  const ok = await server.request('PUT', `/Basic/${item.id}`, { body: corrected, headers: { 'if-match': `W/"${cur.meta.versionId}"` } });
  expect(ok.status).toBe(200);
  expect(quantityExt(ok.body, EXT.onHand)).toBe(195);
  // the version it replaced is now stale
  const again = await server.request('PUT', `/Basic/${item.id}`, { body: corrected, headers: { 'if-match': `W/"${cur.meta.versionId}"` } });
  expect(again.status).toBe(412);
});

test('a client changing stock-reserved gets 422, by PUT or PATCH', async () => {
  const cur = await read(server, `Basic/${item.id}`);
  const changed = { ...cur, extension: [...cur.extension, { url: EXT.reserved, valueQuantity: { value: 7, unit: 'tablet' } }] };
  const put = await server.request('PUT', `/Basic/${item.id}`, { body: changed, headers: { 'if-match': `W/"${cur.meta.versionId}"` } });
  expect(put.status).toBe(422);
  expect(put.text).toMatch(/stock-reserved/);

  const patch = [{ op: 'add', path: '/extension/-', value: { url: EXT.reserved, valueQuantity: { value: 3 } } }];
  const noMatch = await server.request('PATCH', `/Basic/${item.id}`, { body: patch, headers: { 'content-type': 'application/json-patch+json' } });
  expect(noMatch.status).toBe(428);
  const withMatch = await server.request('PATCH', `/Basic/${item.id}`, {
    body: patch,
    headers: { 'content-type': 'application/json-patch+json', 'if-match': `W/"${cur.meta.versionId}"` },
  });
  expect(withMatch.status).toBe(422);
  expect((await read(server, `Basic/${item.id}`)).meta.versionId).toBe(cur.meta.versionId);
});

test('the guard holds inside a transaction Bundle too', async () => {
  const cur = await read(server, `Basic/${item.id}`);
  const res = await server.request('POST', '/', {
    body: {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [{ resource: cur, request: { method: 'PUT', url: `Basic/${item.id}` } }],
    },
  });
  expect(res.status).toBe(428);
  expect(res.text).toMatch(/ifMatch/);
});

test('other Basic resources are not affected', async () => {
  const note = await create(server, { resourceType: 'Basic', code: { text: 'referral letter' } });
  const res = await server.request('PUT', `/Basic/${note.id}`, { body: { ...note, code: { text: 'referral letter (signed)' } } });
  expect(res.status).toBe(200);
});
