/**
 * A websocket client for the Subscriptions websocket channel's tests (the `ws` package, a real client over TCP):
 * queues the server's text frames so a test can await the next one, or check that none comes.
 */
import WebSocket from 'ws';
import type { Json, TestServer } from '../harness';

export class WsClient {
  private readonly frames: string[] = [];
  private waiting?: (frame: string) => void;
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => {
      const text = data.toString();
      if (this.waiting) {
        const w = this.waiting;
        this.waiting = undefined;
        w(text);
      } else this.frames.push(text);
    });
    this.closed = new Promise((resolve) => socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  /** Connects to `url` (ws://…/fhir/ws), with `headers` on the upgrade request. */
  static open(url: string, headers: Record<string, string> = {}): Promise<WsClient> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url, { headers });
      socket.once('open', () => resolve(new WsClient(socket)));
      socket.once('error', reject);
      socket.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    });
  }

  send(text: string): void {
    this.socket.send(text);
  }

  /** The next frame from the server; fails after `timeoutMs`. */
  next(timeoutMs = 10_000): Promise<string> {
    const queued = this.frames.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = undefined;
        reject(new Error(`no frame from the server within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting = (f) => {
        clearTimeout(timer);
        resolve(f);
      };
    });
  }

  /** Sends `text` and returns the next frame. */
  async ask(text: string): Promise<string> {
    this.send(text);
    return this.next();
  }

  /** Frames that arrived within `ms` (expected to be none where a test calls it). */
  async quiet(ms: number): Promise<string[]> {
    await new Promise((r) => setTimeout(r, ms));
    return this.frames.splice(0);
  }

  close(): void {
    this.socket.close();
  }
}

/** ws://…/fhir/ws of a test server. */
export const wsUrlOf = (base: string): string => `${base.replace(/^http/, 'ws')}/ws`;

/**
 * A Subscription with the websocket channel, active: POSTed as `requested` (the server's admission activates it);
 * a server without admission (the bare resource store) is told `active` with a PUT.
 */
export async function websocketSubscription(server: Pick<TestServer, 'request'>, criteria: string, extra: Json = {}): Promise<Json> {
  const body = { resourceType: 'Subscription', status: 'requested', reason: 'dispensary screen', criteria, channel: { type: 'websocket' }, ...extra };
  const created = await server.request('POST', 'Subscription', { body });
  if (created.status !== 201) throw new Error(`Subscription not created (${created.status}): ${created.text}`);
  if (created.body.status === 'active') return created.body;
  const activated = await server.request('PUT', `Subscription/${created.body.id}`, { body: { ...created.body, status: 'active' } });
  if (activated.status !== 200) throw new Error(`Subscription not activated (${activated.status}): ${activated.text}`);
  return activated.body;
}

/** The parameter `name` of a Parameters resource: its value[x]s. */
export function parameterValues(params: Json, name: string): unknown[] {
  return (params.parameter as Json[]).filter((p) => p.name === name).map((p) => Object.entries(p).find(([k]) => k.startsWith('value'))?.[1]);
}
