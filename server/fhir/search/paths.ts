/**
 * Compiling SearchParameter expressions (FHIRPath) into plain JavaScript walkers, once per resource type.
 *
 * Extraction runs on every write, and interpreting FHIRPath costs tens of microseconds per expression. Almost
 * every R4 expression is one of a few shapes — a path (`Patient.name`), a union of paths, a choice element
 * narrowed by type (`(Observation.value as Quantity)`, `.as(Age)`, `.ofType(Reference)`), a reference filtered by
 * target type (`.where(resolve() is Patient)`), a filter on a field (`.where(system='phone')`) or an extension by
 * url (`.extension('…')`). Those compile here into closures that walk the JSON directly, using the R4
 * StructureDefinitions to expand choice elements (`value[x]` → `valueQuantity`, `valueString`, …). Anything else
 * falls back to a cached `fhirpath.compile` with the R4 model.
 */
import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4';
import { r4Model, type ElementDef } from '../definitions';
import { isJsonObject, type JsonObject, type JsonValue } from '../json';
import { splitUnion } from './registry';

export type Evaluator = (node: JsonValue) => JsonValue[];

/** Where a path step stands in the type system: a type and the element path within it. */
interface Context {
  type: string;
  path: string;
}

type Step = { kind: 'child'; keys: string[] } | { kind: 'filter'; pred: (node: JsonValue) => boolean } | { kind: 'extValue' };

const IDENT = /^[a-z][A-Za-z0-9]*$/;

function ucfirst(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function elementAt(ctx: Context, name: string): ElementDef | undefined {
  const def = r4Model().types[ctx.type];
  if (!def) return undefined;
  const plain = `${ctx.path}.${name}`;
  const choice = `${plain}[x]`;
  return def.elements.find((e) => e.path === plain || e.path === choice);
}

/** The context of an element's values, when it has a single type. */
function contextOf(ctx: Context, e: ElementDef, chosen?: string): Context | undefined {
  if (e.contentReference) return { type: ctx.type, path: e.contentReference };
  const codes = chosen ? [chosen] : e.types.map((t) => t.code);
  if (codes.length !== 1) return undefined;
  const code = codes[0];
  if (code === 'BackboneElement' || code === 'Element') return { type: ctx.type, path: e.path };
  if (r4Model().types[code]) return { type: code, path: code };
  return undefined;
}

/** Splits `a.b.where(x='y').c` at top-level dots. */
function splitSteps(expr: string): string[] | undefined {
  const out: string[] = [];
  let depth = 0;
  let quote = false;
  let start = 0;
  for (let i = 0; i < expr.length; i++) {
    const c = expr[i];
    if (c === "'") quote = !quote;
    else if (!quote && c === '(') depth++;
    else if (!quote && c === ')') depth--;
    else if (!quote && depth === 0 && c === '.') {
      out.push(expr.slice(start, i));
      start = i + 1;
    }
  }
  if (depth !== 0 || quote) return undefined;
  out.push(expr.slice(start));
  return out;
}

/** The target type of a Reference (from its literal reference or its `type`), for `where(resolve() is X)`. */
export function referenceTargetType(node: JsonValue): string | undefined {
  if (!isJsonObject(node)) return undefined;
  const ref = node.reference;
  if (typeof ref === 'string' && !ref.startsWith('#')) {
    const parts = ref.split('?')[0].split('/');
    const h = parts.indexOf('_history');
    const end = h >= 0 ? h : parts.length;
    if (end >= 2 && /^[A-Z][A-Za-z]+$/.test(parts[end - 2])) return parts[end - 2];
  }
  return typeof node.type === 'string' ? node.type : undefined;
}

/**
 * Compiles one union member (`Patient.name`, `(Observation.value as Quantity)`, …) starting in `ctx`
 * (`skipRoot`: the member starts with the type name). Returns undefined when the shape is not one of ours.
 */
export function compileMember(member: string, ctx: Context, skipRoot = true): { steps: Step[]; end?: Context } | undefined {
  let expr = member.trim();
  // `(A as T)rest` → `A.as(T)rest`
  const cast = /^\((.+) as ([A-Za-z]+)\)(.*)$/.exec(expr);
  if (cast) expr = `${cast[1]}.as(${cast[2]})${cast[3]}`;
  const parts = splitSteps(expr);
  if (!parts) return undefined;
  if (skipRoot) {
    if (parts[0] !== ctx.type && parts[0] !== ctx.path) return undefined;
    parts.shift();
  }
  const steps: Step[] = [];
  let cur: Context | undefined = ctx;
  let pendingChoice: { name: string; e: ElementDef; from: Context } | undefined;
  for (const part of parts) {
    let m: RegExpExecArray | null;
    if (IDENT.test(part)) {
      if (pendingChoice || !cur) return undefined; // steps after an unnarrowed choice: let FHIRPath decide
      const e = elementAt(cur, part);
      if (!e) return undefined;
      if (e.path.endsWith('[x]')) {
        steps.push({ kind: 'child', keys: e.types.map((t) => part + ucfirst(t.code)) });
        pendingChoice = { name: part, e, from: cur };
        cur = undefined;
      } else {
        steps.push({ kind: 'child', keys: [part] });
        cur = contextOf(cur, e);
      }
    } else if ((m = /^(?:as|ofType)\(([A-Za-z]+)\)$/.exec(part))) {
      const t = m[1] === 'DateTime' ? 'dateTime' : m[1];
      if (pendingChoice) {
        const code = pendingChoice.e.types.find((x) => x.code === t)?.code;
        const last = steps[steps.length - 1] as { kind: 'child'; keys: string[] };
        last.keys = code ? [pendingChoice.name + ucfirst(code)] : [];
        cur = code ? contextOf(pendingChoice.from, pendingChoice.e, code) : undefined;
        pendingChoice = undefined;
      } else if (!cur || cur.type !== t) {
        return undefined;
      }
    } else if ((m = /^where\(resolve\(\) is ([A-Za-z]+)\)$/.exec(part))) {
      const t = m[1];
      steps.push({ kind: 'filter', pred: (n) => referenceTargetType(n) === t });
    } else if ((m = /^where\(([a-z][A-Za-z0-9]*) ?= ?'([^'\\]*)'\)$/.exec(part))) {
      const [, field, lit] = m;
      steps.push({ kind: 'filter', pred: (n) => isJsonObject(n) && n[field] === lit });
    } else if ((m = /^extension\('([^'\\]+)'\)$/.exec(part))) {
      const url = m[1];
      steps.push({ kind: 'child', keys: ['extension'] });
      steps.push({ kind: 'filter', pred: (n) => isJsonObject(n) && n.url === url });
      steps.push({ kind: 'extValue' });
      cur = undefined;
    } else {
      return undefined;
    }
  }
  return { steps, end: pendingChoice ? undefined : cur };
}

/**
 * The first element of a member's leading path that its type does not define (`Patient.nmae` → `Patient.nmae`),
 * for refusing a custom SearchParameter that could never index anything. Checking stops at the first function,
 * filter or choice element (FHIRPath decides from there).
 */
export function unknownElement(member: string, type: string): string | undefined {
  let expr = member.trim();
  const cast = /^\((.+) as ([A-Za-z]+)\)(.*)$/.exec(expr);
  if (cast) expr = cast[1];
  const parts = splitSteps(expr);
  if (!parts || parts[0] !== type) return undefined;
  let cur: Context | undefined = { type, path: type };
  for (const part of parts.slice(1)) {
    if (!cur || !IDENT.test(part)) return undefined;
    const e = elementAt(cur, part);
    if (e) {
      if (e.path.endsWith('[x]')) return undefined;
      cur = contextOf(cur, e);
      continue;
    }
    // `valueQuantity`: a choice element named with its type
    const def = r4Model().types[cur.type];
    const here: Context = cur;
    const choice = def?.elements.find(
      (x) => x.path.startsWith(`${here.path}.`) && x.path.endsWith('[x]') && part.startsWith(x.path.slice(here.path.length + 1, -3)),
    );
    const code = choice?.types.find((t) => part === choice.path.slice(here.path.length + 1, -3) + ucfirst(t.code))?.code;
    if (!choice || !code) return `${cur.path}.${part}`;
    cur = contextOf(cur, choice, code);
  }
  return undefined;
}

/**
 * Whether an expression (restricted to `type`) yields at most one value per resource: every element on its path
 * has max cardinality 1 (filters and type casts only narrow). A union qualifies only when its members are casts of
 * one choice element (`(Observation.effective as dateTime) | (Observation.effective as Period)`). The search
 * compiler may then test AND-ed criteria of the parameter against the same index row.
 */
export function singleValued(expression: string, type: string): boolean {
  const members = splitUnion(expression).map((m) => {
    const t = m.trim();
    const cast = /^\((.+) as ([A-Za-z]+)\)$/.exec(t);
    return cast ? cast[1].trim() : t.replace(/\.(?:as|ofType)\([A-Za-z]+\)$/, '');
  });
  if (members.length === 0 || members.some((m) => m !== members[0])) return false;
  const parts = splitSteps(members[0]);
  if (!parts || parts[0] !== type) return false;
  let cur: Context | undefined = { type, path: type };
  for (const part of parts.slice(1)) {
    if (/^(?:as|ofType)\([A-Za-z]+\)$/.test(part) || /^where\(.*\)$/.test(part)) continue;
    if (!cur || !IDENT.test(part)) return false;
    const e = elementAt(cur, part);
    if (e?.max !== 1 || e.array) return false;
    cur = e.path.endsWith('[x]') ? undefined : contextOf(cur, e);
  }
  return true;
}

function run(node: JsonValue, steps: Step[], i: number, out: JsonValue[]): void {
  if (i === steps.length) {
    if (node !== null && node !== undefined) out.push(node);
    return;
  }
  const s = steps[i];
  if (s.kind === 'child') {
    if (!isJsonObject(node)) return;
    for (const key of s.keys) {
      const v = node[key];
      if (v === undefined || v === null) continue;
      if (Array.isArray(v)) for (const item of v) run(item, steps, i + 1, out);
      else run(v, steps, i + 1, out);
    }
  } else if (s.kind === 'filter') {
    if (s.pred(node)) run(node, steps, i + 1, out);
  } else if (isJsonObject(node)) {
    for (const key in node) {
      if (key.startsWith('value')) {
        run(node[key], steps, i + 1, out);
        break;
      }
    }
  }
}

function fhirpathFallback(expression: string): Evaluator {
  const compiled = fhirpath.compile(expression, r4);
  return (node) => {
    try {
      return compiled(node as object) as JsonValue[];
    } catch {
      return []; // an expression that cannot evaluate on this resource indexes nothing
    }
  };
}

/** The number of expressions that needed the FHIRPath interpreter (exposed for tests and the report). */
export const fallbackExpressions = new Set<string>();

/**
 * Compiles a (possibly union) expression for resources or elements of `ctx` into one evaluator; each member
 * that is not a supported shape falls back to FHIRPath on its own.
 */
export function compileExpression(expression: string, ctx: Context, skipRoot = true): { evaluate: Evaluator; ends: (Context | undefined)[] } {
  const members = splitUnion(expression);
  const walkers: Evaluator[] = [];
  const ends: (Context | undefined)[] = [];
  for (const member of members) {
    const compiled = compileMember(member, ctx, skipRoot);
    // `X.exists() and X != false` (Patient-deceased): true when X is present and not the boolean false
    const exists = /^(.+)\.exists\(\) and (.+) != false$/.exec(member);
    const inner = exists && exists[1] === exists[2] ? compileMember(exists[1], ctx, skipRoot) : undefined;
    if (inner) {
      const steps = inner.steps;
      walkers.push((node) => {
        const out: JsonValue[] = [];
        run(node, steps, 0, out);
        return [out.length > 0 && !out.every((v) => v === false)];
      });
      ends.push(undefined);
    } else if (compiled) {
      const steps = compiled.steps;
      walkers.push((node) => {
        const out: JsonValue[] = [];
        run(node, steps, 0, out);
        return out;
      });
      ends.push(compiled.end);
    } else {
      fallbackExpressions.add(member);
      walkers.push(fhirpathFallback(member));
      ends.push(undefined);
    }
  }
  if (walkers.length === 1) return { evaluate: walkers[0], ends };
  return {
    evaluate: (node) => {
      const out: JsonValue[] = [];
      for (const w of walkers) for (const v of w(node)) out.push(v);
      return out;
    },
    ends,
  };
}

export type { Context as PathContext, JsonObject };
