/**
 * fhirpath.js set up for the R4 invariants: the R4 model, no console output from trace(), and two corrections
 * where fhirpath.js reads an R4 expression differently from the FHIR validator.
 * https://hl7.org/fhir/R4/fhirpath.html, https://hl7.org/fhirpath/N1/
 */
import { compile, type Model, type UserInvocationTable } from 'fhirpath';
import * as r4 from 'fhirpath/fhir-context/r4';

/** A compiled invariant: the focus value and %resource/%rootResource in, the FHIRPath result out. */
export type Evaluator = (data: unknown, env: Record<string, unknown>) => unknown[];

/**
 * que-7 tests `answer is Boolean`; fhirpath.js does not treat a FHIR boolean as a System Boolean for `is` (it does
 * for ofType()), so a valid `answerBoolean` would fail. The FHIR type name says the same thing unambiguously.
 */
const EXPRESSION_FIXES: Record<string, string> = {
  'que-7': "operator = 'exists' implies (answer is boolean)",
};

const regexCache = new Map<string, RegExp>();

/**
 * FHIRPath matches(): fhirpath.js compiles every pattern with the `u` flag, which rejects the identity escapes
 * (`\'`, `\-`) of the R4 ElementDefinition invariants (eld-16, eld-19, eld-20); those patterns are valid regular
 * expressions without it. Compiled patterns are cached instead of being rebuilt on every call.
 */
function matches(input: unknown[], regex: unknown, flags?: unknown): boolean | [] {
  const pattern = Array.isArray(regex) ? regex[0] : regex;
  if (input.length === 0 || typeof pattern !== 'string') return [];
  if (input.length > 1) throw new Error('matches() requires a single input string');
  const value = input[0];
  if (typeof value !== 'string') throw new Error('matches() requires a string input');
  const f = typeof flags === 'string' ? flags : Array.isArray(flags) && typeof flags[0] === 'string' ? flags[0] : '';
  if (/[^im]/.test(f)) throw new Error('matches() flags must only contain i and/or m');
  const cacheKey = `${f}/${pattern}`;
  let re = regexCache.get(cacheKey);
  if (!re) {
    try {
      re = new RegExp(pattern, `${f}su`);
    } catch {
      re = new RegExp(pattern, `${f}s`);
    }
    regexCache.set(cacheKey, re);
  }
  return re.test(value);
}

const model = r4 as unknown as Model;
const userInvocationTable: UserInvocationTable = {
  matches: { fn: matches, arity: { 1: ['String'], 2: ['String', 'String'] } },
};
const OPTIONS = { traceFn: () => undefined, userInvocationTable };

/** The expression actually evaluated for an invariant (with the corrections above). */
export function invariantExpression(key: string, expression: string): string {
  return EXPRESSION_FIXES[key] ?? expression;
}

/** Compiles `expression` for values at `base` (a type name or element path); throws if it does not parse. */
export function compileExpression(base: string, expression: string): Evaluator {
  return compile({ base, expression }, model, OPTIONS) as Evaluator;
}
