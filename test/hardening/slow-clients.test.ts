/**
 * Slow clients (issue 10 item 4): a body sent a byte at a time, or declared and never sent, does not hold a
 * connection past the request timeout; idle keep-alive connections close; a connection serves a bounded number
 * of requests; the process holds a bounded number of connections. Short limits here; generous waits.
 */
import net from 'node:net';
import { startServer, type TestServer } from '../harness';

interface RawConnection {
  socket: net.Socket;
  /** Everything the server sent. */
  received(): string;
  /** Resolves when the server closed the connection (or after `ms`, with false). */
  closed(ms: number): Promise<boolean>;
}

async function connect(port: number): Promise<RawConnection> {
  const socket = net.connect(port, '127.0.0.1');
  let data = '';
  let ended = false;
  const waiters: (() => void)[] = [];
  socket.on('data', (d) => (data += d.toString()));
  socket.on('error', () => undefined);
  socket.on('close', () => {
    ended = true;
    for (const w of waiters) w();
  });
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  return {
    socket,
    received: () => data,
    closed: (ms) =>
      new Promise<boolean>((resolve) => {
        if (ended) return resolve(true);
        const timer = setTimeout(() => resolve(false), ms);
        waiters.push(() => {
          clearTimeout(timer);
          resolve(true);
        });
      }),
  };
}

const port = (server: TestServer): number => Number(new URL(server.base).port);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('request and keep-alive timeouts', () => {
  let server: TestServer;
  // with a valid token: an unauthenticated request is answered 401 before its body is read
  let authorization = '';
  beforeAll(async () => {
    server = await startServer({ requestTimeoutMs: 1500, keepAliveTimeoutMs: 500, maxRequestsPerSocket: 2 });
    const token = await server.token();
    if (token) authorization = `Authorization: Bearer ${token}\r\n`;
  });
  afterAll(async () => server.close());
  const head = (length: number): string =>
    `POST /fhir/Patient HTTP/1.1\r\nHost: x\r\n${authorization}Content-Type: application/fhir+json\r\nContent-Length: ${length}\r\n\r\n`;

  test('a body declared and never sent: 408 and the connection closes', async () => {
    const c = await connect(port(server));
    c.socket.write(`${head(100)}{`);
    expect(await c.closed(30_000)).toBe(true);
    expect(c.received()).toMatch(/^HTTP\/1\.1 408/);
  });

  test('a body sent one byte at a time: the connection closes before it is complete', async () => {
    const c = await connect(port(server));
    const body = JSON.stringify({ resourceType: 'Patient', name: [{ family: 'Slowloris' }] });
    c.socket.write(head(body.length));
    let sent = 0;
    let closed = false;
    void c.closed(60_000).then((v) => (closed = v));
    while (!closed && sent < body.length) {
      c.socket.write(body[sent++]);
      await sleep(250);
    }
    expect(closed || (await c.closed(30_000))).toBe(true);
    expect(sent).toBeLessThan(body.length);
    expect((await server.request('GET', '/Patient?name=Slowloris')).body.entry ?? []).toEqual([]);
  });

  test('headers trickled forever: the connection closes', async () => {
    const c = await connect(port(server));
    c.socket.write('GET /fhir/metadata HTTP/1.1\r\nHost: x\r\n');
    let closed = false;
    void c.closed(60_000).then((v) => (closed = v));
    for (let i = 0; !closed && i < 200; i++) {
      c.socket.write(`X-Slow-${i}: 1\r\n`);
      await sleep(100);
    }
    expect(closed).toBe(true);
  });

  test('an idle keep-alive connection is closed; a connection serves a bounded number of requests', async () => {
    const c = await connect(port(server));
    c.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(await c.closed(30_000)).toBe(true);
    expect(c.received()).toMatch(/^HTTP\/1\.1 200/);

    const d = await connect(port(server));
    d.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(await d.closed(30_000)).toBe(true);
    const responses = d.received().split('HTTP/1.1 ').filter(Boolean);
    expect(responses).toHaveLength(2);
    expect(responses[1]).toMatch(/connection: close/i);
  });
});

describe('concurrent connections', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ maxConnections: 3 });
  });
  afterAll(async () => server.close());

  test('beyond the cap a connection is refused at once; the others are served', async () => {
    const held = await Promise.all([1, 2, 3].map(() => connect(port(server))));
    await sleep(200); // the server has accepted them
    const extra = await connect(port(server));
    expect(await extra.closed(30_000)).toBe(true);
    expect(extra.received()).toBe('');
    held[0].socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(await held[0].closed(30_000)).toBe(true);
    expect(held[0].received()).toMatch(/^HTTP\/1\.1 200/);
    for (const c of held) c.socket.destroy();
  });
});
