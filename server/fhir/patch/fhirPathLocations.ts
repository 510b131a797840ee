/**
 * FHIRPath evaluated to *locations* in a resource, for FHIRPath Patch (https://hl7.org/fhir/R4/fhirpatch.html).
 *
 * fhirpath.js does the evaluating, so patch paths get the whole language (where(), ofType(), extension(),
 * first(), indexers, …). With `resolveInternalTypes: false` it returns ResourceNodes that remember their parent
 * node, JSON property name and array index; we turn that chain into key/index steps from the resource root and
 * check every step against the evaluated data by identity. A result that is not a real element of this resource
 * (a computed value such as `name.family + 'x'`, or a node from resolve()) is refused with a 400, never guessed at.
 *
 * The evaluation runs on a view of the resource in which lossless decimals are plain numbers (fhirpath.js does
 * not know `LosslessNumber`); the view has the same shape, so its locations address the real resource too.
 */
import fhirpath, { type ResourceNode } from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4';
import { isJsonObject, isLosslessNumber, numberValue, type JsonObject, type JsonValue } from '../json';
import { invalidPatch, type OperationRef } from './errors';
import type { Location, Step } from './jsonLocation';
import { getOwn, setOwn } from './jsonValues';

type Evaluator = (resource: object, vars: Record<string, unknown>) => unknown[];

const compiled = new Map<string, Evaluator>();
const MAX_COMPILED = 500;

/**
 * `div` and `mod` are FHIRPath operators, so `Patient.text.div` does not parse as written; the spec's own patch
 * test cases use it, and after a `.` these words can only be member names, so they are quoted as identifiers.
 */
export function quoteKeywordMembers(expression: string): string {
  let out = '';
  for (let i = 0; i < expression.length; ) {
    const c = expression[i];
    if (c === "'" || c === '`') {
      // Copy a string literal or delimited identifier untouched (backslash escapes included).
      let j = i + 1;
      while (j < expression.length && expression[j] !== c) j += expression[j] === '\\' ? 2 : 1;
      out += expression.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    const m = c === '.' ? /^\.(\s*)(div|mod)(?![A-Za-z0-9_])/.exec(expression.slice(i)) : null;
    if (m) {
      out += `.${m[1]}\`${m[2]}\``;
      i += m[0].length;
      continue;
    }
    out += c;
    i++;
  }
  return out;
}

function evaluator(expression: string, ref: OperationRef): Evaluator {
  let fn = compiled.get(expression);
  if (!fn) {
    try {
      fn = fhirpath.compile(quoteKeywordMembers(expression), r4, { resolveInternalTypes: false }) as unknown as Evaluator;
    } catch (e) {
      throw invalidPatch(ref, `invalid FHIRPath "${expression}": ${(e as Error).message}`);
    }
    if (compiled.size >= MAX_COMPILED) compiled.clear(); // patch paths are few and repetitive; a crude bound suffices
    compiled.set(expression, fn);
  }
  return fn;
}

/** The class of fhirpath.js result nodes (not exported by the package), to tell elements from computed values. */
const ResourceNodeClass = (fhirpath.evaluate({ resourceType: 'Basic' }, 'Basic', {}, r4, { resolveInternalTypes: false })[0] as object).constructor;

function isResourceNode(v: unknown): v is ResourceNode {
  return v instanceof ResourceNodeClass;
}

/** A same-shaped copy for fhirpath.js: lossless decimals become numbers. */
function evaluationView(value: JsonValue): JsonValue {
  if (Array.isArray(value)) return value.map(evaluationView);
  if (isLosslessNumber(value)) return numberValue(value) as number;
  if (isJsonObject(value)) {
    const out: JsonObject = {};
    for (const key of Object.keys(value)) setOwn(out, key, evaluationView(value[key]));
    return out;
  }
  return value;
}

/**
 * The elements of `resource` that `expression` selects, as locations (deduplicated, in result order).
 * Throws a 400 for invalid or unsupported FHIRPath and for results that are not elements of the resource.
 */
export function locate(resource: JsonObject, expression: string, ref: OperationRef): Location[] {
  const view = evaluationView(resource) as JsonObject;
  const evaluate = evaluator(expression, ref);
  let results: unknown[];
  try {
    results = evaluate(view, { resource: view, rootResource: view });
  } catch (e) {
    throw invalidPatch(ref, `cannot evaluate FHIRPath "${expression}": ${(e as Error).message}`, 'not-supported');
  }
  const seen = new Set<string>();
  const locations: Location[] = [];
  for (const result of results) {
    const location = isResourceNode(result) ? locationOf(result, view) : undefined;
    if (!location) {
      throw invalidPatch(
        ref,
        `path "${expression}" selects something that is not an element of this resource (a computed value, or an element reached through resolve()); patch paths must select elements`,
        'not-supported',
      );
    }
    const id = JSON.stringify(location);
    if (!seen.has(id)) locations.push(location);
    seen.add(id);
  }
  return locations;
}

const capitalize = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);

/** The JSON key a node came from: its property name, or for a choice element the name plus its type. */
function keyOf(holder: JsonObject, node: ResourceNode): string | undefined {
  const present = (k: string): boolean => Object.hasOwn(holder, k) || Object.hasOwn(holder, `_${k}`);
  const name = node.propName;
  if (!name) return undefined;
  if (present(name)) return name;
  const type = node.fhirNodeDataType?.replace(/^System\./, '');
  if (type && present(name + capitalize(type))) return name + capitalize(type);
  // A choice element whose node type is not its JSON suffix: accept only an unambiguous candidate.
  const candidates = Object.keys(holder).filter((k) => /^[A-Z]/.test(k.slice(name.length)) && k.startsWith(name));
  return candidates.length === 1 ? candidates[0] : undefined;
}

function member(holder: JsonObject, step: Step): JsonValue | undefined {
  const v = getOwn(holder, step.key);
  if (step.index === undefined) return Array.isArray(v) ? undefined : v;
  return Array.isArray(v) ? v[step.index] : undefined;
}

/** Whether the data a node carries is the value found at its claimed position. */
function sameData(found: JsonValue | undefined, node: ResourceNode): boolean {
  const data: unknown = node.data;
  if (isJsonObject(found) || Array.isArray(found)) return found === data;
  if (found === undefined || found === null) return data === undefined || data === null; // extensions-only primitive
  const plain = typeof data === 'object' && data !== null && 'toNumber' in data ? (data as { toNumber(): number }).toNumber() : data;
  return plain === found;
}

function locationOf(node: ResourceNode, view: JsonObject): Location | undefined {
  const chain: ResourceNode[] = [];
  for (let n: ResourceNode | null = node; n; n = n.parentResNode) chain.unshift(n);
  if (chain[0].data !== view) return undefined; // not rooted in this resource
  const steps: Step[] = [];
  let current: JsonValue | undefined = view;
  let previousHolder: JsonObject | undefined;
  for (const n of chain.slice(1)) {
    let holder: JsonObject;
    if (isJsonObject(current)) {
      holder = current;
    } else {
      // The parent is a primitive: its children (id, extension) live in its `_` companion.
      const last = steps[steps.length - 1];
      if (!last || !previousHolder) return undefined;
      const companionStep: Step = { ...last, key: `_${last.key}` };
      const companion = member(previousHolder, companionStep);
      if (!isJsonObject(companion)) return undefined;
      steps[steps.length - 1] = companionStep;
      holder = companion;
    }
    const key = keyOf(holder, n);
    if (key === undefined) return undefined;
    const step: Step = n.index === null || n.index === undefined ? { key } : { key, index: n.index };
    const found = member(holder, step);
    if (!sameData(found, n)) return undefined;
    steps.push(step);
    previousHolder = holder;
    current = found;
  }
  return steps;
}

/**
 * Splits a path naming a list (`Patient.name[0].given`) into the path of the element holding the list and the
 * list's name, for insert and move, which must work on an empty or absent list too. The split is confirmed
 * against fhirpath.js's parse tree, so only a trailing member access qualifies (not `name.where(…)` or `a + b.c`).
 */
export function splitListPath(expression: string): { parent?: string; name: string } | undefined {
  const text = expression.trim();
  let start: number;
  if (text.endsWith('`')) {
    start = text.length - 2;
    while (start >= 0 && !(text[start] === '`' && text[start - 1] !== '\\')) start--;
    if (start < 0) return undefined;
  } else {
    const m = /[A-Za-z_][A-Za-z0-9_]*$/.exec(text);
    if (!m) return undefined;
    start = m.index;
  }
  const raw = text.slice(start);
  const name = raw.startsWith('`') ? raw.slice(1, -1) : raw;
  const before = text.slice(0, start).trimEnd();
  if (before && !before.endsWith('.')) return undefined;
  const parent = before ? before.slice(0, -1).trim() : undefined;
  if (parent === '' || lastMember(text) !== raw) return undefined;
  return parent === undefined ? { name } : { parent, name };
}

interface AstNode {
  type: string;
  text?: string;
  children?: AstNode[];
}

/** The raw text of the trailing member access of an expression's parse tree, if that is what it ends with. */
function lastMember(expression: string): string | undefined {
  let node: AstNode;
  try {
    node = fhirpath.parse(quoteKeywordMembers(expression)) as AstNode;
  } catch {
    return undefined;
  }
  while (node.type === 'EntireExpression' && node.children?.length === 1) node = node.children[0];
  let memberNode: AstNode | undefined;
  if (node.type === 'InvocationExpression') {
    memberNode = node.children?.[node.children.length - 1];
  } else if (node.type === 'TermExpression') {
    const term = node.children?.[0];
    memberNode = term?.type === 'InvocationTerm' ? term.children?.[0] : undefined;
  }
  return memberNode?.type === 'MemberInvocation' ? memberNode.text : undefined;
}
