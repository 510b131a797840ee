/**
 * Bounds on the work one search may ask for. Every criterion becomes an EXISTS over an index in one statement,
 * so a URL repeating `name=` two thousand times makes a statement that runs for minutes; the bounds refuse such
 * a search up front (400 naming the limit) while leaving ample room for real clients: a few dozen criteria, a
 * parameter repeated for ranges (`date=ge…&date=lt…`), hundreds of OR values (`identifier=a,b,…`).
 */
import { OperationOutcomeError, issue } from '../outcome';

/** Parameters (criteria, includes, sorts, …) in one search. */
export const MAX_SEARCH_PARAMETERS = 100;
/** Times one parameter name (with its modifier) may be repeated. */
export const MAX_PARAMETER_REPEATS = 32;
/** Comma-separated OR values in one parameter's value. */
export const MAX_OR_VALUES = 1000;

/**
 * Resource types the chains of one search pass through, summed over every link. A link without a type goes
 * through every target type that has the next parameter — all 146 for a reference to any resource — and each
 * further untyped link multiplies that: `diagnosis:Condition.evidence-detail.depends-on._source` made an
 * EXISTS for each of thousands of type paths, and its statement took longer to plan than the statement timeout.
 */
export const MAX_CHAIN_TARGETS = 100;

export function chainTargetsExceeded(name: string): OperationOutcomeError {
  return tooCostly(
    `The chain '${name}' goes through more than ${MAX_CHAIN_TARGETS} resource types (every target type of each untyped link): name the types (e.g. subject:Patient.name)`,
    name,
  );
}

const tooCostly = (diagnostics: string, name?: string): OperationOutcomeError =>
  new OperationOutcomeError(400, [issue('error', 'too-costly', diagnostics, name)]);

export function checkSearchLimits(params: [string, string][]): void {
  if (params.length > MAX_SEARCH_PARAMETERS) {
    throw tooCostly(`The search has ${params.length} parameters; the server's limit is ${MAX_SEARCH_PARAMETERS} per search`);
  }
  const repeats = new Map<string, number>();
  for (const [name, value] of params) {
    const n = (repeats.get(name) ?? 0) + 1;
    repeats.set(name, n);
    if (n > MAX_PARAMETER_REPEATS)
      throw tooCostly(`The parameter '${name}' is repeated more than the server's limit of ${MAX_PARAMETER_REPEATS} times`, name);
    // Commas not escaped with a backslash separate OR values (search.html#escaping).
    let values = 1;
    for (let i = value.indexOf(','); i >= 0; i = value.indexOf(',', i + 1)) if (value[i - 1] !== '\\') values++;
    if (values > MAX_OR_VALUES)
      throw tooCostly(`The parameter '${name}' has ${values} values; the server's limit is ${MAX_OR_VALUES} per parameter`, name);
  }
}
