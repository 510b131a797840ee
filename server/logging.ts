/**
 * What an error may say in a log line. No patient data in logs: PostgreSQL's message, `detail` and `where` quote
 * the values of the failing row (a patient's name), and a JS error's message may quote the body it choked on, so
 * only the kind of error, its SQLSTATE or code, and where in our code it happened are logged. The request id
 * (on every request log line) ties the line to the request.
 */
import { DatabaseError } from 'pg';
import { OperationOutcomeError } from './fhir/outcome';

/** An Error, also one made in another realm (Node's own socket errors seen from a vm context, as under Jest). */
export function isError(e: unknown): e is Error {
  return (
    e instanceof Error || (typeof e === 'object' && e !== null && typeof (e as Error).message === 'string' && typeof (e as Error).stack === 'string')
  );
}

export function errorForLog(e: unknown): Record<string, unknown> {
  if (e instanceof DatabaseError) return { type: 'DatabaseError', sqlstate: e.code, routine: e.routine };
  if (e instanceof OperationOutcomeError) return { type: 'OperationOutcomeError', status: e.status, codes: e.issues.map((i) => i.code) };
  if (isError(e)) {
    const code = (e as { code?: unknown }).code;
    return {
      type: e.name,
      ...(typeof code === 'string' ? { code } : {}),
      stack: (e.stack ?? '')
        .split('\n')
        .filter((line) => /^\s+at /.test(line))
        .map((line) => line.trim()),
    };
  }
  return { type: typeof e };
}
