/**
 * OperationOutcome errors: the one error type thrown anywhere in the server (DESIGN.md §2), turned into an
 * HTTP response in exactly one place (rest/errors.ts). https://hl7.org/fhir/R4/operationoutcome.html
 */
export type IssueSeverity = 'fatal' | 'error' | 'warning' | 'information';
/** http://hl7.org/fhir/R4/valueset-issue-type.html */
export type IssueType =
  | 'invalid'
  | 'structure'
  | 'required'
  | 'value'
  | 'invariant'
  | 'security'
  | 'login'
  | 'unknown'
  | 'expired'
  | 'forbidden'
  | 'suppressed'
  | 'processing'
  | 'not-supported'
  | 'duplicate'
  | 'multiple-matches'
  | 'not-found'
  | 'deleted'
  | 'too-long'
  | 'code-invalid'
  | 'extension'
  | 'too-costly'
  | 'business-rule'
  | 'conflict'
  | 'transient'
  | 'lock-error'
  | 'no-store'
  | 'exception'
  | 'timeout'
  | 'incomplete'
  | 'throttled'
  | 'informational';

export interface Issue {
  severity: IssueSeverity;
  code: IssueType;
  diagnostics: string;
  /** FHIRPath locations, e.g. `Patient.name[0].given[1]`. */
  expression?: string[];
}

export interface OperationOutcome {
  resourceType: 'OperationOutcome';
  issue: Issue[];
}

export class OperationOutcomeError extends Error {
  constructor(
    readonly status: number,
    readonly issues: Issue[],
    /** Extra response headers (e.g. Allow on 405). */
    readonly headers: Record<string, string> = {},
  ) {
    super(issues.map((i) => i.diagnostics).join('; '));
  }

  get outcome(): OperationOutcome {
    return { resourceType: 'OperationOutcome', issue: this.issues };
  }
}

export function outcome(issues: Issue[]): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: issues };
}

export function issue(severity: IssueSeverity, code: IssueType, diagnostics: string, expression?: string): Issue {
  return expression ? { severity, code, diagnostics, expression: [expression] } : { severity, code, diagnostics };
}

export const badRequest = (diagnostics: string, expression?: string): OperationOutcomeError =>
  new OperationOutcomeError(400, [issue('error', 'invalid', diagnostics, expression)]);
export const notFound = (diagnostics: string): OperationOutcomeError => new OperationOutcomeError(404, [issue('error', 'not-found', diagnostics)]);
export const gone = (diagnostics: string): OperationOutcomeError => new OperationOutcomeError(410, [issue('error', 'deleted', diagnostics)]);
export const conflict = (diagnostics: string): OperationOutcomeError => new OperationOutcomeError(409, [issue('error', 'conflict', diagnostics)]);
export const preconditionFailed = (diagnostics: string, code: IssueType = 'conflict'): OperationOutcomeError =>
  new OperationOutcomeError(412, [issue('error', code, diagnostics)]);
export const notSupported = (diagnostics: string, status = 400): OperationOutcomeError =>
  new OperationOutcomeError(status, [issue('error', 'not-supported', diagnostics)]);
export const unprocessable = (issues: Issue[]): OperationOutcomeError => new OperationOutcomeError(422, issues);
