/**
 * The one place where errors become HTTP responses (DESIGN.md §2): OperationOutcomeErrors keep their status;
 * Fastify's own errors (body too large, bad media type, malformed body) get the matching FHIR status; an
 * unavailable or slow database is a 503 with Retry-After; anything else is a 500. Logs say which error and where
 * (server/logging.ts), never what the resource held; responses never carry SQLSTATEs or engine messages.
 */
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { DatabaseError } from 'pg';
import { OperationOutcomeError, issue, type Issue, type IssueType } from '../fhir/outcome';
import { toJson } from '../fhir/json';
import { databaseFailure, databaseFailureOutcome } from '../database/errors';
import { errorForLog } from '../logging';
import { linger } from '../linger';

function send(reply: FastifyReply, status: number, issues: Issue[], headers: Record<string, string> = {}): FastifyReply {
  for (const [k, v] of Object.entries(headers)) reply.header(k, v);
  // also here (response-headers.ts sets them in onSend): the router's own refusals (frameworkErrors: 414, a
  // malformed URL) are sent without the onSend hooks
  reply.header('X-Content-Type-Options', 'nosniff');
  if (!reply.hasHeader('Cache-Control')) reply.header('Cache-Control', 'no-store');
  return reply
    .code(status)
    .type('application/fhir+json; charset=utf-8')
    .send(toJson({ resourceType: 'OperationOutcome', issue: issues }));
}

export function errorHandler(error: FastifyError | Error, req: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (error instanceof OperationOutcomeError) {
    if (error.status >= 500 && error.status !== 503) req.log.error({ error: errorForLog(error) }, 'request failed');
    return send(reply, error.status, error.issues, error.headers);
  }
  const code = (error as FastifyError).code;
  switch (code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return send(reply, 413, [issue('error', 'too-long', `The request body exceeds the limit of ${req.routeOptions.bodyLimit ?? ''} bytes`)]);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return send(reply, 415, [
        issue('error', 'not-supported', `Content-Type '${req.headers['content-type'] ?? '(none)'}' is not supported: send application/fhir+json`),
      ]);
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return send(reply, 400, [issue('error', 'invalid', 'The request body is empty or its length is wrong')]);
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return send(reply, 400, [issue('error', 'invalid', 'Malformed JSON body')]);
    // the router's own refusals (frameworkErrors), before any route runs
    case 'FST_ERR_BAD_URL':
      return send(reply, 400, [issue('error', 'invalid', 'The URL path is malformed (invalid percent-encoding)')]);
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return send(reply, 414, [issue('error', 'too-long', 'A segment of the URL path is longer than 200 characters')]);
  }
  // PostgreSQL's own limits (SQLSTATE class 54: a value too large to index, a statement too complex): the request
  // asked for more than the database can hold; nothing was written (the statement failed whole).
  if (error instanceof DatabaseError && error.code?.startsWith('54')) {
    req.log.warn({ sqlstate: error.code }, 'request exceeds a database limit');
    return send(reply, 400, [
      issue('error', 'too-long', 'The request exceeds a limit of the database (a value too large to index, or a request too complex)'),
    ]);
  }
  const unavailable = databaseFailureOutcome(error);
  if (unavailable) {
    const failure = databaseFailure(error);
    req.log.warn(
      { error: errorForLog(error) },
      failure === 'timeout' ? 'statement timeout (a deliberate limit): answered 503' : 'database unavailable: answered 503',
    );
    return send(reply, 503, unavailable.issues, unavailable.headers);
  }
  const status = (error as FastifyError).statusCode;
  if (status && status >= 400 && status < 500) {
    return send(reply, status, [issue('error', 'invalid', error.message)]);
  }
  req.log.error({ error: errorForLog(error) }, 'unexpected error');
  return send(reply, 500, [issue('fatal', 'exception', `Internal server error (request id ${req.id}); the error has been logged`)]);
}

export function notFoundHandler(req: FastifyRequest, reply: FastifyReply): FastifyReply {
  return send(reply, 404, [issue('error', 'not-found', `No FHIR endpoint at ${req.method} ${req.url.split('?')[0]}`)]);
}

/** An OperationOutcome response written straight to a socket or raw response, outside Fastify's request cycle. */
function rawOutcome(status: number, code: IssueType, diagnostics: string): { head: string; body: string } {
  const body = toJson({ resourceType: 'OperationOutcome', issue: [issue('error', code, diagnostics)] });
  const head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nContent-Type: application/fhir+json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n`;
  return { head, body };
}

/**
 * Requests Node's HTTP parser refuses before Fastify sees them (headers over the limit, a request that timed out,
 * a malformed request line): an OperationOutcome instead of Fastify's own JSON, then the connection closes.
 */
export function clientErrorHandler(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, code, diagnostics]: [number, IssueType, string] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'too-long', 'The request line and headers exceed the size limit']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'timeout', 'The request did not arrive in time']
        : [400, 'invalid', 'Malformed HTTP request'];
  if (socket.writable) {
    const { head, body } = rawOutcome(status, code, diagnostics);
    // (A HEAD request gets the body too: which method it was is not known once the headers overflowed — Node's
    // parser reports only the chunk that overflowed — and Node's client reads the body as data after the answer.)
    socket.write(head + body);
  }
  // The client may still be sending (headers past the limit, a body): read on until it closes, then close
  // (destroying the socket at once made the kernel answer what still arrived with a reset, losing the answer).
  if (err.code === 'HPE_HEADER_OVERFLOW') linger(socket);
  else socket.destroy(err);
}

/** `Expect` other than `100-continue` (which Node answers itself): 417 with an OperationOutcome. */
export function expectationFailed(req: IncomingMessage, res: ServerResponse): void {
  const { body } = rawOutcome(417, 'not-supported', `Expect: '${String(req.headers.expect).slice(0, 100)}' is not supported (only 100-continue)`);
  res.writeHead(417, { 'content-type': 'application/fhir+json; charset=utf-8', 'x-content-type-options': 'nosniff', connection: 'close' }).end(body);
}
