/**
 * Errors for both PATCH formats (https://hl7.org/fhir/R4/http.html#patch). Each names the failing operation by its
 * 0-based position in the patch document, so a client can find it in a long patch.
 *
 * - 400 Bad Request: the patch document itself is malformed or unsupported (wrong shape, unknown operation, bad
 *   JSON Pointer or FHIRPath syntax, a value of the wrong type for its element). It fails on any resource.
 * - 422 Unprocessable Entity: the document is well-formed but cannot be applied to *this* resource (a path that
 *   is not there or matches too much, an index out of range, a failed JSON Patch `test`). RFC 5789 §2.2 would also
 *   allow 409 for some of these; we keep one status for "valid patch, wrong resource" so clients have one case.
 */
import { OperationOutcomeError, issue, type IssueType } from '../outcome';

/** Which operation failed, for diagnostics: `JSON Patch operation 2 (remove /name/0)`. */
export interface OperationRef {
  format: 'JSON Patch' | 'FHIRPath Patch';
  index: number;
  /** A short description of the operation (its type and path), when known. */
  summary?: string;
}

function describe(ref: OperationRef): string {
  return `${ref.format} operation ${ref.index}${ref.summary ? ` (${ref.summary})` : ''}`;
}

/** Where in the submitted Parameters the failing operation sits (FHIRPath Patch only). */
function expressionOf(ref: OperationRef): string | undefined {
  return ref.format === 'FHIRPath Patch' ? `Parameters.parameter[${ref.index}]` : undefined;
}

/** The patch document is malformed or uses something unsupported: 400. */
export function invalidPatch(ref: OperationRef | undefined, message: string, code: IssueType = 'invalid'): OperationOutcomeError {
  const text = ref ? `${describe(ref)}: ${message}` : message;
  return new OperationOutcomeError(400, [issue('error', code, text, ref && expressionOf(ref))]);
}

/** The patch is well-formed but cannot be applied to this resource: 422. */
export function unprocessablePatch(ref: OperationRef, message: string, code: IssueType = 'processing'): OperationOutcomeError {
  return new OperationOutcomeError(422, [issue('error', code, `${describe(ref)}: ${message}`, expressionOf(ref))]);
}
