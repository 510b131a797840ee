/**
 * Graceful stop of one HTTP server process (SIGTERM, main.ts): first answer every new request with a retryable 503
 * OperationOutcome while the requests already in flight finish, and only then close the listener. Closing the
 * listener first would reset the connections still waiting in the accept queue (or, under node:cluster, queued in
 * the primary for a worker) — clients would get no answer at all.
 */
import type { ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { FastifyInstance } from 'fastify';
import { OperationOutcomeError, issue } from './fhir/outcome';

/** Installs the hooks on `app` (before it listens); returns the function that drains and closes it. */
export function drainable(app: FastifyInstance): () => Promise<void> {
  let draining = false;
  const open = new Set<ServerResponse>();
  app.server.on('request', (_req, res: ServerResponse) => {
    open.add(res);
    res.once('close', () => open.delete(res));
  });
  // Callback-style hooks (as app.ts's): an async hook costs every request a promise and a turn of the microtask queue.
  app.addHook('onRequest', (_req, _reply, done) => {
    if (!draining) return done();
    done(new OperationOutcomeError(503, [issue('error', 'transient', 'The server is shutting down: retry the request')], { 'Retry-After': '1' }));
  });
  // Every response from then on closes its connection, so no keep-alive connection lingers.
  app.addHook('onSend', (_req, reply, payload, done) => {
    if (draining) reply.header('Connection', 'close');
    done(null, payload);
  });
  return async () => {
    draining = true;
    const sweep = setInterval(() => app.server.closeIdleConnections(), 50);
    try {
      await Promise.all([...open].map((res) => (res.closed ? undefined : once(res, 'close'))));
      await app.close(); // stops accepting; waits for whatever arrived meanwhile
    } finally {
      clearInterval(sweep);
    }
  };
}
