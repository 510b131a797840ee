/**
 * Sends one fuzz request with node:http (not fetch, which normalises or refuses what the fuzzer must send: raw
 * bodies with invalid UTF-8, odd methods, huge headers) and reads the whole answer, or reports that none came
 * within the timeout.
 */
import http from 'node:http';
import type { FuzzRequest } from './requests';

export type Outcome =
  | { kind: 'response'; status: number; headers: http.IncomingHttpHeaders; body: Buffer; ms: number }
  | { kind: 'timeout'; ms: number }
  | { kind: 'error'; code: string; message: string; ms: number };

export async function send(origin: URL, req: FuzzRequest, timeoutMs: number, agent: http.Agent): Promise<Outcome> {
  const first = await attempt(origin, req, timeoutMs, agent);
  // A kept-alive socket the server closed just as the request went out: Node's documented race, retried once.
  if (first.kind === 'error' && first.reused) return attempt(origin, req, timeoutMs, agent);
  return first;
}

function attempt(origin: URL, req: FuzzRequest, timeoutMs: number, agent: http.Agent): Promise<Outcome & { reused?: boolean }> {
  const started = Date.now();
  return new Promise((resolve) => {
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (o: Outcome & { reused?: boolean }): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(o);
    };
    const headers: Record<string, string | number> = { ...req.headers };
    if (req.body) headers['content-length'] = req.body.length;
    let r: http.ClientRequest;
    try {
      r = http.request({ host: origin.hostname, port: origin.port, method: req.method, path: req.path, headers, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          finish({ kind: 'response', status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), ms: Date.now() - started }),
        );
        res.on('error', (e: NodeJS.ErrnoException) => finish({ kind: 'error', code: e.code ?? 'ERR', message: e.message, ms: Date.now() - started }));
      });
    } catch (e) {
      // the request could not even be formed (a header Node refuses): not the server's concern
      finish({ kind: 'error', code: 'CLIENT_REFUSED', message: (e as Error).message, ms: 0 });
      return;
    }
    timer = setTimeout(() => {
      finish({ kind: 'timeout', ms: Date.now() - started });
      r.destroy();
    }, timeoutMs);
    r.on('error', (e: NodeJS.ErrnoException) =>
      finish({
        kind: 'error',
        code: e.code ?? 'ERR',
        message: e.message,
        ms: Date.now() - started,
        reused: r.reusedSocket && e.code === 'ECONNRESET',
      }),
    );
    r.end(req.body);
  });
}
