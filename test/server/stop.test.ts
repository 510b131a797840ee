/**
 * Stopping the server with transactions in flight, on the embedded PostgreSQL (the compiled CLI, 2 workers):
 * - SIGTERM mid-burst: the server owns the order (stop accepting, finish in-flight requests in every worker, then
 *   stop PostgreSQL), so every request gets a complete response — a transaction-response, or a 503
 *   OperationOutcome for one that arrived while closing — or was never accepted (connection refused);
 * - kill -9 of the whole process group (server, workers and PostgreSQL, as a container kill or power loss would)
 *   mid-burst: after a restart (crash recovery) no bundle is partial and every acknowledged bundle is there.
 * Needs `dist/` (npm test builds it first).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../server/database/embedded';
import { procAuth, send, start, waitReady, type Outcome, type Proc } from './processes';

const SYSTEM = 'urn:arogya:test:burst';
const OBSERVATIONS = 6;

/** Bundle `n`: a Patient and OBSERVATIONS Observations about it, all carrying identifier value n. */
function transaction(n: number): string {
  const patient = `urn:uuid:00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
  const identifier = [{ system: SYSTEM, value: String(n) }];
  return JSON.stringify({
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      {
        fullUrl: patient,
        resource: { resourceType: 'Patient', identifier, name: [{ family: `Burst${n}` }] },
        request: { method: 'POST', url: 'Patient' },
      },
      ...Array.from({ length: OBSERVATIONS }, (_, k) => ({
        resource: {
          resourceType: 'Observation',
          identifier,
          status: 'final',
          code: { text: 'Heart rate' },
          subject: { reference: patient },
          valueQuantity: { value: 60 + k },
        },
        request: { method: 'POST', url: 'Observation' },
      })),
    ],
  });
}

function acknowledged(o: Outcome): boolean {
  if (o.status !== 200 || o.error) return false;
  const body = JSON.parse(o.body) as { resourceType: string; type: string; entry: { response: { status: string } }[] };
  return (
    body.type === 'transaction-response' && body.entry.length === OBSERVATIONS + 1 && body.entry.every((e) => e.response.status.startsWith('201'))
  );
}

/** Fires `count` transactions at once (numbered from `first`); calls `onAck` with the number acknowledged so far. */
function burst(base: string, first: number, count: number, onAck: (acks: number) => void, token?: string): Promise<Outcome>[] {
  let acks = 0;
  return Array.from({ length: count }, (_, i) =>
    send(base, 'POST', transaction(first + i), token).then((o) => {
      if (acknowledged(o)) onAck(++acks);
      return o;
    }),
  );
}

/** How many Patients and Observations carry each identifier value, read back through the API. */
async function stored(base: string, token?: string): Promise<Map<string, { patients: number; observations: number }>> {
  const counts = new Map<string, { patients: number; observations: number }>();
  for (const type of ['Patient', 'Observation']) {
    for (let url: string | undefined = `${base}/${type}?_count=1000`; url; ) {
      const page = (await (await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {} })).json()) as {
        entry?: { resource: { identifier?: { system: string; value: string }[] } }[];
        link: { relation: string; url: string }[];
      };
      for (const e of page.entry ?? []) {
        const value = e.resource.identifier?.find((i) => i.system === SYSTEM)?.value;
        if (value === undefined) continue;
        const c = counts.get(value) ?? { patients: 0, observations: 0 };
        if (type === 'Patient') c.patients++;
        else c.observations++;
        counts.set(value, c);
      }
      url = page.link.find((l) => l.relation === 'next')?.url;
    }
  }
  return counts;
}

/** Every bundle all there or not at all; every acknowledged one there. */
function expectWholeBundles(counts: Map<string, { patients: number; observations: number }>, first: number, outcomes: Outcome[]): void {
  outcomes.forEach((o, i) => {
    const c = counts.get(String(first + i)) ?? { patients: 0, observations: 0 };
    const whole = c.patients === 1 && c.observations === OBSERVATIONS;
    const none = c.patients === 0 && c.observations === 0;
    expect({ bundle: first + i, whole: whole || none, lost: acknowledged(o) && !whole }).toEqual({ bundle: first + i, whole: true, lost: false });
  });
}

test('SIGTERM and kill -9 mid-burst on the embedded database: complete responses, whole bundles, nothing acknowledged lost', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'arogya-stop-'));
  const port = await freePort();
  const env = { AROGYA_DATA_DIR: dataDir, PORT: String(port), AROGYA_WORKERS: '2', LOG_LEVEL: 'warn' };
  const base = `http://127.0.0.1:${port}/fhir`;
  let proc: Proc | undefined;
  // Detached: its own process group, so kill -9 can take the server, its workers and PostgreSQL at once.
  const serve = (): Proc => start(['serve'], env, { detached: true });
  try {
    proc = serve();
    await waitReady(port, proc);
    const token = await procAuth(`http://127.0.0.1:${port}`).token();

    // SIGTERM once the first bundles are acknowledged; then keep sending, one request after the other, until the
    // server refuses connections: each of those arrives while it drains or closes.
    const running = proc;
    let terminated!: () => void;
    const sigterm = new Promise<void>((resolve) => (terminated = resolve));
    const first = burst(
      base,
      0,
      40,
      (acks) => {
        if (acks === 2) {
          running.child.kill('SIGTERM');
          terminated();
        }
      },
      token,
    );
    const late: Outcome[] = [];
    await sigterm;
    for (let i = 0; i < 500 && (late.length === 0 || !late[late.length - 1].error); i++)
      late.push(await send(base, 'POST', transaction(1000 + i), token));
    const outcomes = await Promise.all(first);
    expect(await running.exited).toBe(0);
    const isOutcome503 = (o: Outcome): boolean =>
      o.status === 503 && !o.error && (JSON.parse(o.body) as { resourceType: string }).resourceType === 'OperationOutcome';
    for (const o of [...outcomes, ...late.slice(0, -1)]) {
      // a transaction-response, or a 503 OperationOutcome (arrived while it drained)
      expect({ clean: acknowledged(o) || isOutcome503(o), status: o.status, error: o.error, body: o.body.slice(0, 300) }).toEqual(
        expect.objectContaining({ clean: true }),
      );
    }
    // The last one met the closed listener: refused, or reset in the instant the listener closed under it — never
    // accepted, so nothing was done with it (every request accepted since SIGTERM was answered 503).
    expect(late[late.length - 1].error).toMatch(/^(ECONNREFUSED|ECONNRESET)$/);
    expect(outcomes.filter(acknowledged).length).toBeGreaterThanOrEqual(2);
    expect(fs.existsSync(path.join(dataDir, 'pg', 'postmaster.pid'))).toBe(false); // PostgreSQL stopped cleanly, after the drain
    expect(running.output()).not.toMatch(/Connection terminated|worker exited unexpectedly/);

    proc = serve();
    await waitReady(port, proc);
    const afterTerm = await stored(base, token);
    expectWholeBundles(afterTerm, 0, outcomes);
    // The requests sent after the SIGTERM: the primary relays the signal to its workers, so one that reached a worker
    // before it heard of it may still be served — then whole and acknowledged; every other one (answered 503, or
    // refused) wrote nothing. At most one per worker gets through before the drain.
    expectWholeBundles(afterTerm, 1000, late);
    late.forEach((o, i) => {
      if (!acknowledged(o)) expect({ bundle: 1000 + i, stored: afterTerm.get(String(1000 + i)) }).toEqual({ bundle: 1000 + i, stored: undefined });
    });
    expect(late.filter(acknowledged).length).toBeLessThanOrEqual(2);

    // kill -9 of everything once the first bundles of a second burst are acknowledged
    const killed = proc;
    const second = burst(
      base,
      100,
      40,
      (acks) => {
        if (acks === 2) process.kill(-killed.child.pid!, 'SIGKILL');
      },
      token,
    );
    const secondOutcomes = await Promise.all(second);
    await killed.exited;
    expect(secondOutcomes.filter(acknowledged).length).toBeGreaterThanOrEqual(2);
    expect(secondOutcomes.filter(acknowledged).length).toBeLessThan(secondOutcomes.length); // the kill landed mid-burst
    for (const o of secondOutcomes) expect(o.status === 500).toBe(false);

    proc = serve(); // PostgreSQL recovers from its WAL
    await waitReady(port, proc);
    expectWholeBundles(await stored(base, token), 100, secondOutcomes);
    proc.child.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
  } finally {
    if (proc && proc.child.exitCode === null && proc.child.signalCode === null) {
      try {
        process.kill(-proc.child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
      await proc.exited;
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}, 300_000);
