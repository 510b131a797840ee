/**
 * Skipping invariants whose outcome is already known from which properties are present. Most R4 invariants are
 * written as `x.empty() or …`, `x.exists() implies …` or `a.exists() or b.exists()`: when `x` is absent (or `a`
 * present) they hold whatever the rest says, so evaluating them with fhirpath.js (~5-50 µs each) is wasted.
 * Every invariant is analysed once, statically, on fhirpath.js's own parse tree; the result is a list of
 * conditions, each a set of property presences/absences that makes the expression certainly true.
 * https://hl7.org/fhirpath/N1/#boolean-logic (three-valued and/or/implies)
 *
 * The analysis is deliberately small and sound: it only looks at the boolean skeleton (and/or/implies/not and
 * parentheses), at member paths starting from the focus node followed by empty()/exists()/hasValue()/
 * isDistinct(), at bare boolean members and at `member = 'literal'`; anything else contributes no condition and
 * the invariant is evaluated normally. `guardFor()` then maps the FHIRPath names to the object's JSON properties.
 */
import { parse } from 'fhirpath';
import { nodeDef, type NodeDef } from './schema';

/**
 * A fact about one property of the focus node: present/absent, or (for a scalar JSON value) equal to a literal.
 * Exported for invariants.ts, which maps names to JSON properties.
 */
export type Literal = { name: string; present: boolean } | { name: string; equals: string | number | boolean };
/** A conjunction of literals. */
type Condition = Literal[];

interface AstNode {
  type: string;
  text?: string;
  children?: AstNode[];
}

const MAX_CONDITIONS = 16;

/** FHIRPath functions that return empty for an empty input, whatever their arguments. */
const EMPTY_PRESERVING = new Set(['where', 'select', 'ofType', 'as', 'first', 'last', 'tail', 'distinct', 'children', 'descendants', 'extension']);

/** Conditions (any one suffices) under which `expression` certainly evaluates to true; [] if none are known. */
export function trueConditions(expression: string): Condition[] {
  try {
    return whenTrue(parse(expression) as AstNode);
  } catch {
    return []; // fhirpath.js rejects it; the evaluator reports it as skipped
  }
}

function unwrap(n: AstNode): AstNode {
  let node = n;
  for (;;) {
    const kids = node.children ?? [];
    if ((node.type === 'EntireExpression' || node.type === 'ParenthesizedTerm') && kids.length === 1) node = kids[0];
    else if (node.type === 'TermExpression' && kids.length === 1 && kids[0].type === 'ParenthesizedTerm') node = kids[0];
    else return node;
  }
}

function either(a: Condition[], b: Condition[]): Condition[] {
  return [...a, ...b].slice(0, MAX_CONDITIONS);
}

function both(a: Condition[], b: Condition[]): Condition[] {
  const out: Condition[] = [];
  for (const x of a) for (const y of b) if (out.length < MAX_CONDITIONS) out.push([...x, ...y]);
  return out;
}

function whenTrue(n: AstNode): Condition[] {
  const node = unwrap(n);
  const [a, b] = node.children ?? [];
  switch (node.type) {
    case 'OrExpression':
      return node.text === 'or' ? either(whenTrue(a), whenTrue(b)) : [];
    case 'AndExpression':
      return both(whenTrue(a), whenTrue(b));
    case 'ImpliesExpression':
      return either(whenFalse(a), whenTrue(b));
    case 'InvocationExpression':
      return invocation(node, true);
    case 'EqualityExpression':
      return equality(node, true);
    case 'TermExpression':
      return booleanMember(node, true);
  }
  return [];
}

function whenFalse(n: AstNode): Condition[] {
  const node = unwrap(n);
  const [a, b] = node.children ?? [];
  switch (node.type) {
    case 'OrExpression':
      return node.text === 'or' ? both(whenFalse(a), whenFalse(b)) : [];
    case 'AndExpression':
      return either(whenFalse(a), whenFalse(b));
    case 'ImpliesExpression':
      return both(whenTrue(a), whenFalse(b));
    case 'InvocationExpression':
      return invocation(node, false);
    case 'EqualityExpression':
      return equality(node, false);
    case 'TermExpression':
      return booleanMember(node, false);
  }
  return [];
}

/** A bare boolean property `m`: true when its JSON value is true, false when false. */
function booleanMember(node: AstNode, wanted: boolean): Condition[] {
  const path = memberPath(node);
  return path?.length === 1 ? [[{ name: path[0], equals: wanted }]] : [];
}

/**
 * `m = 'literal'` / `m != 'literal'` (either side). Identical JSON and literal values are equal under any FHIR
 * type's equality; a different value only proves inequality for booleans (dates, quantities and decimals have
 * their own equality rules).
 */
function equality(node: AstNode, wanted: boolean): Condition[] {
  const op = node.text;
  if (op !== '=' && op !== '!=') return [];
  const [a, b] = node.children ?? [];
  const member = memberPath(a) ?? memberPath(b);
  const value = literal(a) ?? literal(b);
  if (member?.length !== 1 || value === undefined) return [];
  const name = member[0];
  const equalWanted = op === '=' ? wanted : !wanted;
  if (equalWanted) return [[{ name, equals: value }]];
  return typeof value === 'boolean' ? [[{ name, equals: !value }]] : [];
}

function literal(n: AstNode | undefined): string | number | boolean | undefined {
  const term = n?.type === 'TermExpression' ? n.children?.[0] : undefined;
  const lit = term?.type === 'LiteralTerm' ? term.children?.[0] : undefined;
  const text = lit?.text;
  if (text === undefined) return undefined;
  switch (lit?.type) {
    case 'BooleanLiteral':
      return text === 'true';
    case 'StringLiteral':
      // only plain literals: escapes would need FHIRPath's unescaping
      return /^'[^'\\]*'$/.test(text) ? text.slice(1, -1) : undefined;
    case 'NumberLiteral':
      return /^-?\d+(\.\d+)?$/.test(text) ? Number(text) : undefined;
  }
  return undefined;
}

/** `path.fn()` where fn is empty/exists/hasValue/isDistinct/not. */
function invocation(node: AstNode, wanted: boolean): Condition[] {
  const [base, call] = node.children ?? [];
  const fn = functionName(call);
  if (fn === 'not') return wanted ? whenFalse(base) : whenTrue(base);
  if (call?.type === 'MemberInvocation') return booleanMember(node, wanted);
  const path = memberPath(base);
  if (!path) return [];
  const absent: Condition[] = [[{ name: path[0], present: false }]];
  // Only a single-step path is certainly non-empty when its property is present.
  const present: Condition[] = path.length === 1 ? [[{ name: path[0], present: true }]] : [];
  switch (fn) {
    case 'empty':
      return wanted ? absent : present;
    case 'exists':
      return wanted ? present : absent;
    case 'hasValue':
      return wanted ? [] : absent;
    case 'isDistinct':
      return wanted ? absent : []; // an empty collection is distinct
  }
  return [];
}

/** The name of a parameterless function call node, or undefined. */
function functionName(call: AstNode | undefined): string | undefined {
  if (call?.type !== 'FunctionInvocation') return undefined;
  const functn = call.children?.[0];
  if (!functn || (functn.children?.length ?? 0) !== 1) return undefined; // has parameters
  return functn.children?.[0].text;
}

/** Member names of `a.b.c` starting at the focus (not $this, %vars or function results), else undefined. */
function memberPath(n: AstNode | undefined): string[] | undefined {
  if (!n) return undefined;
  if (n.type === 'TermExpression') {
    const term = n.children?.[0];
    const member = term?.type === 'InvocationTerm' ? term.children?.[0] : undefined;
    if (member?.type !== 'MemberInvocation' || !member.text) return undefined;
    return [member.text.replace(/^`|`$/g, '')];
  }
  if (n.type === 'InvocationExpression') {
    const [base, step] = n.children ?? [];
    const head = memberPath(base);
    if (!head) return undefined;
    if (step?.type === 'MemberInvocation' && step.text) return [...head, step.text];
    // `a.select(x)`: empty when `a` is; recorded as an extra step so the path is no longer single-step.
    const fn = step?.type === 'FunctionInvocation' ? step.children?.[0]?.children?.[0]?.text : undefined;
    if (fn && EMPTY_PRESERVING.has(fn)) return [...head, `${fn}()`];
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// From FHIRPath element names to JSON properties, and the test on an object.

/**
 * A test on the focus object: any of `keys` present (or none), or the first key's JSON value equal to a scalar.
 * Choice elements have up to ~100 typed properties (Extension's `value[x]`), so those are matched by scanning the
 * object's few own keys instead.
 */
interface KeyLiteral {
  keys: string[];
  keySet?: ReadonlySet<string>;
  present: boolean;
  equals?: string | number | boolean;
}

/** Conditions, as JSON property tests, under which an invariant certainly holds for an object (any one suffices). */
export type Guard = KeyLiteral[][];

/** The JSON properties that make up FHIRPath element `name` of objects described by `node`. */
function keysOf(node: NodeDef, name: string): string[] | undefined {
  const child = node.children.get(name);
  if (child && !child.choice) return child.kind === 'primitive' && !child.attribute ? [name, `_${name}`] : [name];
  const group = node.choices.find((g) => g.name === `${name}[x]`);
  return group?.keys.flatMap((k) => [k, `_${k}`]);
}

/** The guard of `expression` evaluated on objects at `base` (a type name or a backbone element path). */
export function guardFor(base: string, expression: string): Guard {
  let node: NodeDef;
  try {
    node = nodeDef(base);
  } catch {
    return [];
  }
  const out: Guard = [];
  for (const condition of trueConditions(expression)) {
    const literals: KeyLiteral[] = [];
    for (const lit of condition) {
      const keys = keysOf(node, lit.name);
      if (!keys) break; // not a property of this node (e.g. a type name): no conclusion
      if ('equals' in lit) {
        if (keys.length > 2) break; // a choice element: its value could sit under any typed name
        literals.push({ keys, present: true, equals: lit.equals });
      } else {
        literals.push(keys.length > 2 ? { keys, keySet: new Set(keys), present: lit.present } : { keys, present: lit.present });
      }
    }
    if (literals.length === condition.length) out.push(literals);
  }
  return out;
}

function holds(o: Record<string, unknown>, lit: KeyLiteral): boolean {
  if (lit.equals !== undefined) return o[lit.keys[0]] === lit.equals;
  if (lit.keySet) {
    for (const k in o) if (lit.keySet.has(k)) return lit.present;
    return !lit.present;
  }
  for (const k of lit.keys) if (o[k] !== undefined) return lit.present;
  return !lit.present;
}

/** Whether the guard proves the invariant true for `value` (an object; anything else proves nothing). */
export function guardHolds(guard: Guard, value: unknown): boolean {
  if (guard.length === 0 || typeof value !== 'object' || value === null) return false;
  const o = value as Record<string, unknown>;
  // plain loops: this runs for every recorded invariant of every resource
  for (const condition of guard) {
    let all = true;
    for (const lit of condition) {
      if (!holds(o, lit)) {
        all = false;
        break;
      }
    }
    if (all) return true;
  }
  return false;
}
