/**
 * Value set expansion, code validation and concept lookup over code systems and value sets held in memory
 * (https://hl7.org/fhir/R4/valueset.html#expansion, terminology-service.html). One engine serves
 * `ValueSet/$expand`, `$validate-code`, `CodeSystem/$lookup`, required-binding validation on write and the
 * `:in`/`:not-in` search modifiers. Pure: the definitions come from a TerminologySource (registry.ts for the
 * loaded ones; the repository prefetches stored ones).
 *
 * Supported compose: include/exclude by concept list, by whole code system, by nested value sets, and by filters
 * on code systems whose concepts are held here (`concept` is-a / descendent-of / is-not-a / in / not-in / regex,
 * `code` / `concept` `=`). A whole system that is not held here (SNOMED CT, LOINC, …) cannot be enumerated: it is
 * reported as an *open* system (any code of it counts as a member for validation and `:in`), and a filter on such a
 * system is not supported (TerminologyError).
 */

/** A definition as JSON (a CodeSystem or ValueSet resource, or the core distilled form). */
// biome-ignore lint/suspicious/noExplicitAny: definitions are walked as loose JSON
export type Definition = Record<string, any>;

export interface TerminologySource {
  codeSystem(url: string): Definition | undefined;
  valueSet(url: string): Definition | undefined;
}

export interface ExpandedConcept {
  system: string;
  code: string;
  display?: string;
}

export interface Expansion {
  /** Members that are enumerated, in compose order, without duplicates. */
  concepts: ExpandedConcept[];
  /** Whole code systems included that cannot be enumerated here: any of their codes is a member. */
  openSystems: string[];
}

export class TerminologyError extends Error {
  constructor(
    readonly kind: 'not-found' | 'not-supported' | 'too-costly',
    message: string,
  ) {
    super(message);
  }
}

/** Largest expansion computed (a value set beyond it is refused as too costly). */
export const MAX_EXPANSION = 100_000;
const MAX_DEPTH = 8;

export function withoutVersion(canonical: string): string {
  const bar = canonical.indexOf('|');
  return bar < 0 ? canonical : canonical.slice(0, bar);
}

interface Node {
  code: string;
  display?: string;
  children: Definition[];
}

function nodesOf(list: unknown): Definition[] {
  return Array.isArray(list) ? list.filter((c) => c && typeof c === 'object' && typeof c.code === 'string') : [];
}

/** Every concept of a code system (depth first), with its ancestors' codes. */
function walk(cs: Definition, visit: (c: Node, ancestors: string[]) => void): void {
  const rec = (list: Definition[], ancestors: string[]): void => {
    for (const c of list) {
      const children = nodesOf(c.concept);
      visit({ code: c.code, display: typeof c.display === 'string' ? c.display : undefined, children }, ancestors);
      if (children.length) rec(children, [...ancestors, c.code]);
    }
  };
  rec(nodesOf(cs.concept), []);
}

/** Whether the code system's concepts are all here (so it can be enumerated and filtered). */
export function enumerable(cs: Definition | undefined): cs is Definition {
  return !!cs && (cs.content === 'complete' || cs.content === undefined) && Array.isArray(cs.concept) && cs.concept.length > 0;
}

type Predicate = (code: string, ancestors: string[]) => boolean;

function filterPredicate(system: string, f: Definition): Predicate {
  const property = String(f.property ?? '');
  const op = String(f.op ?? '');
  const value = String(f.value ?? '');
  if (property === 'concept' || property === 'code') {
    switch (op) {
      case 'is-a':
        return (code, anc) => code === value || anc.includes(value);
      case 'descendent-of':
        return (_code, anc) => anc.includes(value);
      case 'is-not-a':
        return (code, anc) => code !== value && !anc.includes(value);
      case '=':
        return (code) => code === value;
      case 'in': {
        const set = new Set(value.split(','));
        return (code) => set.has(code);
      }
      case 'not-in': {
        const set = new Set(value.split(','));
        return (code) => !set.has(code);
      }
      case 'regex': {
        let re: RegExp;
        try {
          re = new RegExp(`^(?:${value})$`);
        } catch {
          throw new TerminologyError('not-supported', `Filter regex '${value}' on ${system} is not a valid regular expression`);
        }
        return (code) => re.test(code);
      }
    }
  }
  throw new TerminologyError('not-supported', `Filter '${property} ${op} ${value}' on ${system} is not supported by this server`);
}

class Expander {
  private readonly seen = new Set<string>();
  readonly out: Expansion = { concepts: [], openSystems: [] };

  constructor(private readonly source: TerminologySource) {}

  add(c: ExpandedConcept): void {
    const key = `${c.system}|${c.code}`;
    if (this.seen.has(key)) return;
    if (this.out.concepts.length >= MAX_EXPANSION) throw new TerminologyError('too-costly', `The expansion has more than ${MAX_EXPANSION} concepts`);
    this.seen.add(key);
    this.out.concepts.push(c);
  }

  /** The members of one include/exclude entry. */
  entry(inc: Definition, depth: number): Expansion {
    const part = new Expander(this.source);
    const system = typeof inc.system === 'string' ? inc.system : undefined;
    const nested = (Array.isArray(inc.valueSet) ? inc.valueSet : []).filter((v: unknown): v is string => typeof v === 'string');
    if (system) {
      const cs = this.source.codeSystem(system);
      const filters = (Array.isArray(inc.filter) ? inc.filter : []) as Definition[];
      if (Array.isArray(inc.concept) && inc.concept.length) {
        const displays = new Map<string, string | undefined>();
        if (enumerable(cs)) walk(cs, (c) => displays.set(c.code, c.display));
        for (const c of nodesOf(inc.concept)) {
          part.add({ system, code: c.code, display: typeof c.display === 'string' ? c.display : displays.get(c.code) });
        }
      } else if (filters.length || enumerable(cs)) {
        if (!enumerable(cs)) {
          throw new TerminologyError('not-supported', `Code system ${system} is not available on this server, so its filters cannot be evaluated`);
        }
        const preds = filters.map((f) => filterPredicate(system, f));
        walk(cs, (c, anc) => {
          if (preds.every((p) => p(c.code, anc))) part.add({ system, code: c.code, display: c.display });
        });
      } else {
        part.out.openSystems.push(system);
      }
    }
    for (const url of nested) {
      const sub = expandDefinition(this.requireValueSet(url), this.source, depth + 1);
      if (!system) {
        for (const c of sub.concepts) part.add(c);
        for (const s of sub.openSystems) if (!part.out.openSystems.includes(s)) part.out.openSystems.push(s);
        continue;
      }
      // A system and value sets together: their intersection.
      const members = new IndexedExpansion(sub);
      part.out.concepts = part.out.concepts.filter((c) => members.check(c.system, c.code).result);
      if (part.out.openSystems.includes(system) && !sub.openSystems.includes(system)) {
        part.out.openSystems = [];
        for (const c of sub.concepts) if (c.system === system) part.add(c);
      }
    }
    return part.out;
  }

  requireValueSet(url: string): Definition {
    const vs = this.source.valueSet(url);
    if (!vs) throw new TerminologyError('not-found', `ValueSet ${url} is not known to this server`);
    return vs;
  }
}

/** Expands a value set definition (compose, or a stored expansion when it has no compose). */
export function expandDefinition(vs: Definition, source: TerminologySource, depth = 0): Expansion {
  if (depth > MAX_DEPTH) throw new TerminologyError('not-supported', `Value sets nest more than ${MAX_DEPTH} levels deep`);
  const ex = new Expander(source);
  const compose = vs.compose && typeof vs.compose === 'object' ? (vs.compose as Definition) : undefined;
  if (!compose) {
    const contains = vs.expansion?.contains;
    if (!Array.isArray(contains)) throw new TerminologyError('not-supported', `ValueSet ${vs.url ?? vs.id} has neither a compose nor an expansion`);
    const rec = (items: Definition[]): void => {
      for (const c of items) {
        if (typeof c.code === 'string' && typeof c.system === 'string') ex.add({ system: c.system, code: c.code, display: c.display });
        if (Array.isArray(c.contains)) rec(c.contains);
      }
    };
    rec(contains);
    return ex.out;
  }
  for (const inc of (Array.isArray(compose.include) ? compose.include : []) as Definition[]) {
    const part = ex.entry(inc, depth);
    for (const c of part.concepts) ex.add(c);
    for (const s of part.openSystems) if (!ex.out.openSystems.includes(s)) ex.out.openSystems.push(s);
  }
  const excludes = (Array.isArray(compose.exclude) ? compose.exclude : []) as Definition[];
  if (excludes.length) {
    const drop = new Set<string>();
    const dropSystems = new Set<string>();
    for (const exc of excludes) {
      const part = ex.entry(exc, depth);
      for (const c of part.concepts) drop.add(`${c.system}|${c.code}`);
      for (const s of part.openSystems) dropSystems.add(s);
    }
    ex.out.concepts = ex.out.concepts.filter((c) => !drop.has(`${c.system}|${c.code}`) && !dropSystems.has(c.system));
    ex.out.openSystems = ex.out.openSystems.filter((s) => !dropSystems.has(s));
  }
  return ex.out;
}

/** Membership test for one code: `member` when enumerated, `open` when only its system is included whole. */
export interface CodeCheck {
  result: boolean;
  /** The member's display (when enumerated). */
  display?: string;
  /** True when the code's system is included whole but not held here: membership was assumed, not verified. */
  unverified?: boolean;
}

/** An expansion indexed for fast membership tests (required-binding validation runs on every write). */
export class IndexedExpansion {
  private readonly bySystemCode = new Map<string, ExpandedConcept>();
  private readonly byCode = new Map<string, ExpandedConcept>();
  private readonly open: Set<string>;

  constructor(readonly expansion: Expansion) {
    for (const c of expansion.concepts) {
      this.bySystemCode.set(`${c.system}|${c.code}`, c);
      if (!this.byCode.has(c.code)) this.byCode.set(c.code, c);
    }
    this.open = new Set(expansion.openSystems);
  }

  /** A code with its system, or a bare `code` (system undefined: matched against every system in the set). */
  check(system: string | undefined, code: string): CodeCheck {
    if (system === undefined) {
      const hit = this.byCode.get(code);
      if (hit) return { result: true, display: hit.display };
      return this.open.size ? { result: true, unverified: true } : { result: false };
    }
    const hit = this.bySystemCode.get(`${system}|${code}`);
    if (hit) return { result: true, display: hit.display };
    if (this.open.has(system)) return { result: true, unverified: true };
    return { result: false };
  }
}

export interface LookupResult {
  name: string;
  version?: string;
  display?: string;
  parents: string[];
  children: string[];
}

/** CodeSystem/$lookup over a held code system. */
export function lookupCode(cs: Definition, code: string): LookupResult | undefined {
  let found: LookupResult | undefined;
  walk(cs, (c, anc) => {
    if (found || c.code !== code) return;
    found = {
      name: String(cs.title ?? cs.name ?? cs.id ?? cs.url),
      version: typeof cs.version === 'string' ? cs.version : undefined,
      display: c.display,
      parents: anc.length ? [anc[anc.length - 1]] : [],
      children: c.children.map((x) => String(x.code)),
    };
  });
  return found;
}
