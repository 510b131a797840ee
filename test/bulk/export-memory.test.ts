/**
 * An export streams: the server's live heap while exporting ~100 MB of resources stays far below the size of the
 * data. The server runs in this process, so the test samples the live heap (after a forced full GC, so garbage
 * waiting for collection does not count) every few batches while the export runs. test/bench/export.ts measures
 * the peak RSS of a real server process on a larger export.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { Repository } from '../../server/repository/repository';
import type { FhirResponse, TestServer } from '../harness';
import { download, kickOff, startBulkServer, waitForJob } from './helpers';

const N = 20_000;
const PAYLOAD = 5_000; // bytes of text per resource: ~100 MB in all

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

function liveHeap(): number {
  gc();
  return process.memoryUsage().heapUsed;
}

let server: TestServer & { dataDir: string };

beforeAll(async () => {
  server = await startBulkServer();
  const repo = new Repository(server.pool, { referentialIntegrity: false, baseUrl: server.base, timeZone: 'UTC' });
  const filler = 'Bulk data export memory test. '.repeat(Math.ceil(PAYLOAD / 30)).slice(0, PAYLOAD);
  for (let start = 0; start < N; start += 500) {
    const writes = Array.from({ length: 500 }, (_, i) => {
      const id = `mem-${start + i}`;
      return repo.planVersion(
        { resourceType: 'Basic', id, versionId: 1, method: 'PUT', insert: true },
        { resourceType: 'Basic', id, code: { text: `${start + i} ${filler}` } },
      );
    });
    await repo.executeWrites(server.pool, writes);
  }
}, 180_000);

afterAll(async () => {
  await server?.close();
});

test(`exporting ${N} resources of ${PAYLOAD} bytes keeps the live heap bounded`, async () => {
  const baseline = liveHeap();
  let peak = baseline;
  let samples = 0;
  const res = await kickOff(server, '/$export?_type=Basic');
  expect(res.status).toBe(202);
  const statusUrl = res.headers.get('content-location')!;
  let status: FhirResponse;
  const progress = new Set<string>();
  for (;;) {
    status = await server.request('GET', statusUrl);
    if (status.status !== 202) break;
    progress.add(status.headers.get('x-progress') ?? '');
    peak = Math.max(peak, liveHeap());
    samples++;
    await new Promise((r) => setTimeout(r, 25));
  }
  expect(status.status).toBe(200);
  const [file] = status.body.output;
  expect(file.count).toBe(N);
  const dataBytes = N * PAYLOAD;
  const growth = peak - baseline;
  console.log(
    `export of ${N} resources (${(dataBytes / 1e6).toFixed(0)} MB of payload): live heap baseline ${(baseline / 1e6).toFixed(1)} MB, ` +
      `peak ${(peak / 1e6).toFixed(1)} MB (+${(growth / 1e6).toFixed(1)} MB) over ${samples} samples`,
  );
  expect(samples).toBeGreaterThan(3); // the export ran long enough to be observed
  expect([...progress].some((p) => /^Basic \(type 1 of 1\): \d+ resources written$/.test(p))).toBe(true);
  expect(growth).toBeLessThan(dataBytes / 5); // one batch (~5 MB) in flight, not the data set
  // and the file is complete: every resource once
  const { lines } = await download(file.url);
  expect(new Set(lines.map((l) => (JSON.parse(l) as { id: string }).id)).size).toBe(N);
  await waitForJob(server, statusUrl); // still 200
}, 180_000);
