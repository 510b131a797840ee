/**
 * The base specification's FHIRPath invariants (ElementDefinition.constraint), evaluated with fhirpath.js at the
 * values that exist in the resource, after the structural walk. Each invariant is compiled once per definition
 * and cached for the life of the process. https://hl7.org/fhir/R4/conformance-rules.html#constraints
 *
 * - severity `error` → an error issue, `warning` → a warning issue (code `invariant`).
 * - an empty result counts as satisfied: FHIRPath yields empty when it cannot decide (e.g. comparing dates of
 *   different precision), and a write must not be refused on an undecidable rule.
 * - an expression fhirpath.js cannot evaluate (it throws, e.g. resolve() without a server) is skipped, not
 *   reported against the resource; `skippedInvariants()` lists them.
 * - invariants already decided by which properties are present are not evaluated (invariant-guards.ts), and the
 *   universal and per-resource ones are native (NATIVE_INVARIANTS in schema.ts).
 * - fhirpath.js needs plain JSON: a resource holding LosslessNumbers is copied with plain numbers, once, and only
 *   if some invariant actually has to run.
 */
import type { Constraint } from '../definitions';
import type { ValidationContext } from './context';
import { compileExpression, invariantExpression, type Evaluator } from './fhirpath-engine';
import { guardFor, guardHolds, type Guard } from './invariant-guards';
import { formatLocation } from './location';
import { toPlainJson, valueAt } from './plain-json';

interface CompiledInvariant {
  constraint: Constraint;
  /** Undefined when the expression does not compile (listed in skippedInvariants()). */
  evaluate?: Evaluator;
  guard: Guard;
}

/** Keyed by the definition's invariant list: one list belongs to one element, hence to one FHIRPath base. */
const compiled = new WeakMap<readonly Constraint[], CompiledInvariant[]>();
const skipped = new Map<string, string>();

function compileAll(base: string, invariants: readonly Constraint[]): CompiledInvariant[] {
  return invariants.map((constraint) => {
    const expression = invariantExpression(constraint.key, constraint.expression);
    const inv: CompiledInvariant = { constraint, guard: guardFor(base, expression) };
    try {
      inv.evaluate = compileExpression(base, expression);
    } catch (e) {
      skipped.set(constraint.key, `does not compile: ${e instanceof Error ? e.message : String(e)}`);
    }
    return inv;
  });
}

/** Invariants that fhirpath.js could not evaluate so far (key → reason); they were not enforced. */
export function skippedInvariants(): ReadonlyMap<string, string> {
  return skipped;
}

/** Evaluates the invariants recorded during the walk against `root` (the validated resource). */
export function evaluateInvariants(ctx: ValidationContext, root: unknown): void {
  let data: unknown; // the plain-JSON view of `root`, made on first need
  const structurallyValid = ctx.errorCount === 0;
  for (const site of ctx.sites) {
    let list = compiled.get(site.invariants);
    if (!list) compiled.set(site.invariants, (list = compileAll(site.base, site.invariants)));
    const focus = valueAt(root, site.keyPath);
    let node: unknown;
    let env: Record<string, unknown> | undefined;
    for (const inv of list) {
      if (!inv.evaluate || guardHolds(inv.guard, focus)) continue;
      if (!env) {
        data ??= ctx.sawLossless ? toPlainJson(root) : root;
        node = valueAt(data, site.keyPath);
        env = { resource: valueAt(data, site.frame.keyPath), rootResource: valueAt(data, site.frame.root.keyPath) };
      }
      const c = inv.constraint;
      let result: unknown[];
      try {
        result = inv.evaluate(node, env);
      } catch (e) {
        // On structurally broken content a throw says nothing about the expression: only list it when clean.
        if (structurallyValid && !skipped.has(c.key)) {
          skipped.set(c.key, `fhirpath.js cannot evaluate it: ${e instanceof Error ? e.message : String(e)}`);
        }
        continue;
      }
      if (result.length === 1 && result[0] === false) {
        ctx.report(c.severity, 'invariant', `${c.key}: ${c.human}`, formatLocation(ctx.rootType, site.keyPath, site.property));
      }
    }
  }
}
