/**
 * CORS (Fetch standard §3.2) for the FHIR API and the endpoints apps call from script (token, introspect, revoke,
 * register, jwks, discovery) — any origin (`*`): access is by bearer token, never by cookie. The browser pages
 * (/auth/authorize) are navigations, not CORS requests, and get no CORS headers.
 *
 * One synchronous onRequest hook that looks at the Origin header and nothing else when there is none: a request
 * without an Origin (a backend service, a server-side app, the benchmark) pays a header read, not the option
 * objects a generic CORS plugin builds per request. A preflight (OPTIONS with Origin and
 * Access-Control-Request-Method) is answered here with 204, before the bearer guard: browsers send no
 * Authorization header on it.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';

/** Response headers a SMART app in another origin must be able to read. */
const EXPOSED_HEADERS = [
  'Location',
  'Content-Location',
  'ETag',
  'Last-Modified',
  'X-Request-Id',
  'X-Progress',
  'Retry-After',
  'WWW-Authenticate',
].join(', ');
const ALLOWED_HEADERS = [
  'Authorization',
  'Content-Type',
  'Accept',
  'If-Match',
  'If-None-Match',
  'If-None-Exist',
  'If-Modified-Since',
  'Prefer',
  'X-Request-Id',
].join(', ');
const ALLOWED_METHODS = 'GET, HEAD, POST, PUT, PATCH, DELETE';
const MAX_AGE_S = '600';

/** Paths that are pages for a browser's navigation, not an API: no CORS. */
const notCors = (url: string): boolean => url.startsWith('/auth/authorize');

function corsHook(req: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
  const origin = req.headers.origin;
  if (origin === undefined || notCors(req.url)) {
    done();
    return;
  }
  // the answer depends on the Origin header (present or not): caches must keep them apart
  reply.header('Vary', 'Origin');
  reply.header('Access-Control-Allow-Origin', '*');
  if (req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined) {
    reply
      .header('Access-Control-Allow-Methods', ALLOWED_METHODS)
      .header('Access-Control-Allow-Headers', ALLOWED_HEADERS)
      .header('Access-Control-Max-Age', MAX_AGE_S)
      .header('Content-Length', '0')
      .code(204)
      .send();
    return;
  }
  reply.header('Access-Control-Expose-Headers', EXPOSED_HEADERS);
  done();
}

export function registerCors(app: FastifyInstance): void {
  app.addHook('onRequest', corsHook);
  // OPTIONS on paths that have no OPTIONS route of their own: only a CORS preflight (answered by the hook) is one;
  // any other OPTIONS is not something this server answers.
  app.options('*', (_req, reply) => {
    reply.callNotFound();
  });
}
