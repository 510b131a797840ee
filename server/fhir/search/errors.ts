/** The search grammar's errors: every one a 400 OperationOutcome naming the parameter. */
import { OperationOutcomeError, issue } from '../outcome';
import type { ActiveSearchParam } from './registry';

/** An unknown or unsupported parameter or modifier: a 400, or ignored under lenient handling. */
export class UnsupportedParameter extends OperationOutcomeError {
  constructor(diagnostics: string, name: string) {
    super(400, [issue('error', 'not-supported', diagnostics, name)]);
  }
}

/**
 * A custom search parameter whose reindex has not finished (or failed): refused in every handling mode, since its
 * index does not yet cover the resources written before it was defined.
 */
export class SearchParameterNotReady extends OperationOutcomeError {
  constructor(p: ActiveSearchParam, name: string) {
    const c = p.custom!;
    const why =
      c.status === 'failed'
        ? `its reindex failed (${c.error ?? 'unknown error'}); POST SearchParameter/${c.id}/$reindex to retry`
        : `reindex in progress (${c.percent} %); GET SearchParameter/${c.id}/$reindex-status shows its progress`;
    super(400, [issue('error', 'processing', `Search parameter '${p.code}' (SearchParameter/${c.id}) cannot be used yet: ${why}`, name)]);
  }
}

/** A malformed value (a bad date, an unknown prefix, a non-number): a 400 naming the parameter in every mode. */
export function invalidValue(name: string, message: string): OperationOutcomeError {
  return new OperationOutcomeError(400, [issue('error', 'invalid', `Invalid value for search parameter '${name}': ${message}`, name)]);
}
