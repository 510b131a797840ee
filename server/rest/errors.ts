/**
 * The one place where errors become HTTP responses (DESIGN.md §2): OperationOutcomeErrors keep their status;
 * Fastify's own errors (body too large, bad media type, malformed body) get the matching FHIR status; an
 * unavailable or slow database is a 503 with Retry-After; anything else is a 500. Logs say which error and where
 * (server/logging.ts), never what the resource held; responses never carry SQLSTATEs or engine messages.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { DatabaseError } from 'pg';
import { OperationOutcomeError, issue, type Issue } from '../fhir/outcome';
import { toJson } from '../fhir/json';
import { databaseFailure, databaseFailureOutcome } from '../database/errors';
import { errorForLog } from '../logging';

function send(reply: FastifyReply, status: number, issues: Issue[], headers: Record<string, string> = {}): FastifyReply {
  for (const [k, v] of Object.entries(headers)) reply.header(k, v);
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
  }
  // PostgreSQL's own limits (SQLSTATE class 54: a value too large to index, a statement too complex): the request
  // asked for more than the database can hold; nothing was written (the statement failed whole).
  if (error instanceof DatabaseError && error.code?.startsWith('54')) {
    req.log.warn({ sqlstate: error.code }, 'request exceeds a database limit');
    return send(reply, 400, [issue('error', 'too-long', 'The request exceeds a limit of the database (a value too large to index, or a request too complex)')]);
  }
  const unavailable = databaseFailureOutcome(error);
  if (unavailable) {
    const failure = databaseFailure(error);
    req.log.warn({ error: errorForLog(error) }, failure === 'timeout' ? 'statement timeout (a deliberate limit): answered 503' : 'database unavailable: answered 503');
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
