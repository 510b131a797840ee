/**
 * FHIRPath locations for issues (OperationOutcome.issue.expression), e.g. `Patient.name[0].given[1]`.
 * https://hl7.org/fhir/R4/operationoutcome.html#loc
 *
 * The walker keeps the JSON keys from the validated resource down to the current value on a stack; a location is
 * only formatted when an issue is reported. A primitive's `_x` companion is part of element `x` in FHIRPath.
 */
export type Key = string | number;

export function formatLocation(root: string, keys: readonly Key[], extra?: string): string {
  let s = root;
  for (const k of keys) {
    if (typeof k === 'number') s += `[${k}]`;
    else s += `.${k.charCodeAt(0) === 95 /* _ */ ? k.slice(1) : k}`;
  }
  return extra === undefined ? s : `${s}.${extra}`;
}
