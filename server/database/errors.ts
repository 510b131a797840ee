/**
 * Database failures that are not the request's fault, nor a defect: the database is unreachable or restarting,
 * the pool had no connection within its limit, or a statement ran into the statement timeout (or was cancelled).
 * They are answered 503 with Retry-After — a deliberate limit, not an internal error — and never carry the
 * SQLSTATE or the engine's message to the client.
 */
import { DatabaseError } from 'pg';
import { OperationOutcomeError, issue } from '../fhir/outcome';
import { isError } from '../logging';

export type DatabaseFailure = 'timeout' | 'unavailable';

/** Node socket errors seen while the database is down or unreachable. */
const NETWORK_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);
/** pg and pg-pool's own errors for a broken connection or an exhausted pool (they carry no code). */
const CONNECTION_MESSAGES =
  /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection ended unexpectedly)/;

export function databaseFailure(e: unknown): DatabaseFailure | undefined {
  if (e instanceof DatabaseError) {
    const code = e.code ?? '';
    // 57014: statement timeout or cancelled; 55P03: lock timeout.
    if (code === '57014' || code === '55P03') return 'timeout';
    // 08: connection exceptions; 57P01-03: shutting down, crashed, starting; 53300: too many connections.
    if (code.startsWith('08') || /^57P0[123]$/.test(code) || code === '53300') return 'unavailable';
    return undefined;
  }
  if (!isError(e)) return undefined;
  const errno = (e as { code?: unknown }).code;
  if (typeof errno === 'string' && NETWORK_ERRORS.has(errno)) return 'unavailable';
  return CONNECTION_MESSAGES.test(e.message) ? 'unavailable' : undefined;
}

export const RETRY_AFTER_SECONDS = 5;

/** The 503 OperationOutcomeError for a database failure, or undefined when `e` is not one. */
export function databaseFailureOutcome(e: unknown): OperationOutcomeError | undefined {
  const failure = databaseFailure(e);
  if (!failure) return undefined;
  const diagnostics =
    failure === 'timeout'
      ? "The request was stopped: the database did not answer within the server's time limit. Retry later, or narrow the request"
      : 'The database is unavailable or has no free connection. Retry later';
  return new OperationOutcomeError(503, [issue('error', failure === 'timeout' ? 'timeout' : 'transient', diagnostics)], {
    'Retry-After': String(RETRY_AFTER_SECONDS),
  });
}
