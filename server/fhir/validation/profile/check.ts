/**
 * Validation of an instance against a compiled profile (compile.ts): cardinality, fixed[x] and pattern[x]
 * values, slicing (discriminators value, pattern, exists, type, profile; open/closed rules), required bindings
 * (through the terminology engine), type restrictions of choice elements, the target types of references
 * (checked locally: the reference's type, not the target's conformance), profiles on element types (extension
 * definitions) and the profile's FHIRPath constraints. https://hl7.org/fhir/R4/profiling.html
 *
 * Every issue names the profile and carries a FHIRPath location (`Patient.identifier[0].system`).
 */
import { isLosslessNumber, type LosslessNumber } from '../../json';
import type { Issue, IssueType } from '../../outcome';
import { TerminologyError } from '../../terminology/expand';
import type { TerminologyRegistry } from '../../terminology/registry';
import { compileExpression, type Evaluator } from '../fhirpath-engine';
import { toPlainJson } from '../plain-json';
import type { CompiledProfile, Discriminator, ProfileElement, Slicing } from './compile';

export interface ProfileLookup {
  profile(url: string): CompiledProfile | undefined;
  /** The resource/data type a canonical (base R4 or loaded profile) constrains; undefined when unknown. */
  typeOf(url: string): string | undefined;
  readonly terminology: TerminologyRegistry;
}

type Obj = Record<string, unknown>;

interface Item {
  value: unknown;
  loc: string;
  /** The JSON key it was found under (a choice element's key names its type). */
  key: string;
}

const CORE_SD = 'http://hl7.org/fhir/StructureDefinition/';
/** A constraint ready to run: `usesEnv` when it reads %resource/%rootResource (a plain copy of the resource is then made). */
interface Runnable {
  run: Evaluator;
  usesEnv: boolean;
}
const compiled = new WeakMap<object, Runnable | null>();

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !isLosslessNumber(v);
}

function scalar(v: unknown): unknown {
  return isLosslessNumber(v) ? Number((v as LosslessNumber).value) : v;
}

/** Equality of JSON values (numbers by value, LosslessNumbers included). */
export function sameValue(a: unknown, b: unknown): boolean {
  a = scalar(a);
  b = scalar(b);
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => sameValue(x, b[i]));
  }
  if (isObj(a) || isObj(b)) {
    if (!isObj(a) || !isObj(b)) return false;
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => sameValue(a[k], b[k]));
  }
  return a === b;
}

/** pattern[x] semantics: every value in the pattern is present in the instance (arrays: each pattern item matched by some item). */
export function matchesPattern(inst: unknown, pat: unknown): boolean {
  if (Array.isArray(pat)) {
    const list = Array.isArray(inst) ? inst : inst === undefined ? [] : [inst];
    return pat.every((p) => list.some((i) => matchesPattern(i, p)));
  }
  if (isObj(pat)) {
    if (Array.isArray(inst)) return inst.some((i) => matchesPattern(i, pat));
    if (!isObj(inst)) return false;
    return Object.keys(pat).every((k) => matchesPattern(inst[k], pat[k]));
  }
  if (Array.isArray(inst)) return inst.some((i) => sameValue(i, pat));
  return sameValue(inst, pat);
}

/** The items of a property (a choice `value[x]` takes every `valueXxx` key). */
function itemsOf(obj: Obj, name: string, base: string): Item[] {
  const keys: string[] = [];
  if (name.endsWith('[x]')) {
    const prefix = name.slice(0, -3);
    for (const k of Object.keys(obj)) if (k.length > prefix.length && k.startsWith(prefix) && /[A-Z]/.test(k[prefix.length])) keys.push(k);
  } else if (name in obj || `_${name}` in obj) keys.push(name);
  const out: Item[] = [];
  for (const key of keys) {
    const v = obj[key] ?? obj[`_${key}`];
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) out.push({ value: v[i], loc: `${base}.${key}[${i}]`, key });
    } else if (v !== undefined) out.push({ value: v, loc: `${base}.${key}`, key });
  }
  return out;
}

/** Values at a simple FHIRPath path (`system`, `coding.code`, `$this`, `extension('url').value`), flattened. */
function valuesAt(value: unknown, path: string): unknown[] | undefined {
  let current: unknown[] = [value];
  if (path === '$this') return current;
  for (const raw of path.split('.')) {
    const ext = /^extension\('([^']*)'\)$/.exec(raw);
    if (!ext && !/^[A-Za-z][A-Za-z0-9]*$/.test(raw)) return undefined; // resolve(), ofType(), …: not supported
    const next: unknown[] = [];
    for (const v of current) {
      if (!isObj(v)) continue;
      if (ext) {
        for (const e of Array.isArray(v.extension) ? v.extension : []) if (isObj(e) && e.url === ext[1]) next.push(e);
        continue;
      }
      let x = v[raw];
      if (x === undefined && raw === 'value') {
        const k = Object.keys(v).find((key) => key.startsWith('value') && /[A-Z]/.test(key[5] ?? ''));
        x = k ? v[k] : undefined;
      }
      if (Array.isArray(x)) next.push(...x);
      else if (x !== undefined) next.push(x);
    }
    current = next;
  }
  return current;
}

/** The element a discriminator path leads to inside a slice, and the expected value there (fixed or pattern). */
function expectedAt(slice: ProfileElement, path: string): { element?: ProfileElement; fixed?: unknown; pattern?: unknown } {
  if (path === '$this') return { element: slice, fixed: slice.fixed, pattern: slice.pattern };
  let el: ProfileElement | undefined = slice;
  const parts = path.split('.');
  for (let i = 0; i < parts.length; i++) {
    const seg = parts[i];
    const next: ProfileElement | undefined = el.children.find((c) => c.name === seg || c.name === `${seg}[x]`);
    if (!next) {
      // The value may sit inside a fixed/pattern of an ancestor (patternCodeableConcept + path `coding.code`).
      const rest = parts.slice(i).join('.');
      const from = el.fixed ?? el.pattern;
      if (from === undefined) return {};
      const vals = valuesAt(from, rest);
      return el.fixed !== undefined ? { fixed: vals?.[0] } : { pattern: vals?.[0] };
    }
    el = next;
  }
  return { element: el, fixed: el.fixed, pattern: el.pattern };
}

/** Discriminator defaults where the slicing is declared by the base (extensions: by url; a choice: by type). */
function slicingOf(el: ProfileElement): Slicing | undefined {
  if (el.slicing?.discriminator.length) return el.slicing;
  if (el.name === 'extension' || el.name === 'modifierExtension')
    return { discriminator: [{ type: 'value', path: 'url' }], rules: el.slicing?.rules ?? 'open', ordered: false };
  if (el.name.endsWith('[x]')) return { discriminator: [{ type: 'type', path: '$this' }], rules: 'open', ordered: false };
  return undefined;
}

function typeOfKey(key: string, elName: string): string | undefined {
  if (!elName.endsWith('[x]')) return undefined;
  return key.slice(elName.length - 3);
}

function sameTypeName(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

/** The resource type a reference points at, when it can be told locally. */
function referenceType(ref: unknown, root: Obj): string | undefined {
  if (!isObj(ref)) return undefined;
  const r = ref.reference;
  if (typeof r !== 'string') return typeof ref.type === 'string' ? ref.type : undefined;
  if (r.startsWith('#')) {
    const id = r.slice(1);
    const hit = (Array.isArray(root.contained) ? root.contained : []).find((c) => isObj(c) && c.id === id);
    return isObj(hit) && typeof hit.resourceType === 'string' ? hit.resourceType : undefined;
  }
  if (r.startsWith('urn:')) return typeof ref.type === 'string' ? ref.type : undefined;
  const m = /(?:^|\/)([A-Z][A-Za-z]+)\/[A-Za-z0-9\-.]{1,64}(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/.exec(r);
  return m?.[1];
}

export class ProfileChecker {
  readonly issues: Issue[] = [];
  private plainRoot: unknown;
  private visiting = new Set<string>();

  constructor(
    private readonly lookup: ProfileLookup,
    private readonly root: Obj,
    /** The profile being checked (named in every message). */
    private profileUrl: string,
  ) {}

  private report(severity: 'error' | 'warning', code: IssueType, loc: string, message: string): void {
    this.issues.push({ severity, code, diagnostics: `${message} (profile ${this.profileUrl})`, expression: [loc] });
  }

  get errorCount(): number {
    return this.issues.filter((i) => i.severity === 'error').length;
  }

  /** Checks `value` (the resource, or an element for a data type / extension profile) at `loc`. */
  checkProfile(profile: CompiledProfile, value: unknown, loc: string): void {
    const key = `${profile.url}@${loc}`;
    if (this.visiting.has(key)) return; // a profile that (indirectly) requires itself
    this.visiting.add(key);
    const previous = this.profileUrl;
    this.profileUrl = profile.url;
    try {
      // A profile derived from another loaded profile: the base's constraints hold too.
      const base = this.lookup.profile(profile.baseDefinition);
      if (base && base.url !== profile.url) this.checkProfile(base, value, loc);
      this.checkItem({ value, loc, key: profile.type }, profile.root);
    } finally {
      this.profileUrl = previous;
      this.visiting.delete(key);
    }
  }

  private checkChildren(obj: Obj, el: ProfileElement, loc: string): void {
    for (const child of el.children) this.checkElement(itemsOf(obj, child.name, loc), child, `${loc}.${child.name.replace('[x]', '')}`);
  }

  private checkElement(items: Item[], el: ProfileElement, loc: string): void {
    if (el.min !== undefined && items.length < el.min) {
      this.report('error', 'required', loc, `${el.id}: minimum cardinality ${el.min}, found ${items.length}`);
    }
    if (el.max !== undefined && items.length > el.max) {
      const what = el.max === 0 ? `${el.id} is not allowed (max 0)` : `${el.id}: maximum cardinality ${el.max}, found ${items.length}`;
      this.report('error', el.max === 0 ? 'structure' : 'structure', items[el.max]?.loc ?? loc, what);
    }
    for (const item of items) this.checkItem(item, el);
    if (el.slices.length) this.checkSlices(items, el, loc);
  }

  private checkSlices(items: Item[], el: ProfileElement, loc: string): void {
    const slicing = slicingOf(el);
    if (!slicing) {
      this.report('warning', 'not-supported', loc, `${el.id} has slices but no discriminator: its slices were not checked`);
      return;
    }
    const assigned: (ProfileElement | undefined)[] = items.map((item) => el.slices.find((s) => this.inSlice(item, s, slicing.discriminator, el)));
    items.forEach((item, i) => {
      if (!assigned[i] && slicing.rules === 'closed') {
        this.report(
          'error',
          'structure',
          item.loc,
          `${el.id}: this item matches none of the slices (${el.slices.map((s) => s.sliceName).join(', ')}) and the slicing is closed`,
        );
      }
    });
    if (slicing.ordered) {
      let last = -1;
      items.forEach((item, i) => {
        const s = assigned[i];
        if (!s) return;
        const idx = el.slices.indexOf(s);
        if (idx < last) this.report('error', 'structure', item.loc, `${el.id}: slice ${s.sliceName} is out of order (the slicing is ordered)`);
        last = Math.max(last, idx);
      });
    }
    for (const slice of el.slices) {
      const members = items.filter((_, i) => assigned[i] === slice);
      const label = `${el.id}:${slice.sliceName}`;
      if (slice.min !== undefined && members.length < slice.min) {
        this.report('error', 'required', loc, `${label}: minimum cardinality ${slice.min}, found ${members.length}`);
      }
      if (slice.max !== undefined && members.length > slice.max) {
        this.report('error', 'structure', members[slice.max].loc, `${label}: maximum cardinality ${slice.max}, found ${members.length}`);
      }
      for (const m of members) this.checkItem(m, slice);
    }
  }

  private inSlice(item: Item, slice: ProfileElement, discriminators: Discriminator[], sliced: ProfileElement): boolean {
    for (const d of discriminators) {
      const actual = d.path === '$this' ? [item.value] : valuesAt(item.value, d.path);
      if (!actual) return false;
      if (d.type === 'value' || d.type === 'pattern') {
        let { fixed, pattern } = expectedAt(slice, d.path);
        if (
          fixed === undefined &&
          pattern === undefined &&
          d.path === 'url' &&
          (sliced.name === 'extension' || sliced.name === 'modifierExtension')
        ) {
          fixed = slice.types?.[0]?.profiles?.[0]; // an extension slice names its definition by type profile
        }
        if (fixed !== undefined) {
          if (!actual.some((a) => sameValue(a, fixed))) return false;
        } else if (pattern !== undefined) {
          if (!actual.some((a) => matchesPattern(a, pattern))) return false;
        } else if (slice.types?.length && sliced.name.endsWith('[x]')) {
          if (!slice.types.some((t) => sameTypeName(t.code, typeOfKey(item.key, sliced.name) ?? ''))) return false;
        } else return false;
      } else if (d.type === 'exists') {
        const target = expectedAt(slice, d.path).element;
        if (!target) return false;
        const present = actual.length > 0;
        if ((target.min ?? 0) >= 1 && !present) return false;
        if (target.max === 0 && present) return false;
      } else if (d.type === 'type') {
        const target = d.path === '$this' ? slice : expectedAt(slice, d.path).element;
        const code = target?.types?.[0]?.code;
        if (!code) return false;
        const got =
          d.path === '$this' && sliced.name.endsWith('[x]')
            ? typeOfKey(item.key, sliced.name)
            : actual.map((a) => (isObj(a) && typeof a.resourceType === 'string' ? a.resourceType : undefined)).find(Boolean);
        if (!got || !sameTypeName(got, code)) return false;
      } else if (d.type === 'profile') {
        const target = d.path === '$this' ? slice : expectedAt(slice, d.path).element;
        const url = target?.types?.[0]?.profiles?.[0];
        const profile = url ? this.lookup.profile(url) : undefined;
        if (!profile) return false;
        const probe = new ProfileChecker(this.lookup, this.root, profile.url);
        for (const a of actual) probe.checkProfile(profile, a, item.loc);
        if (!actual.length || probe.errorCount) return false;
      } else return false;
    }
    return true;
  }

  private checkItem(item: Item, el: ProfileElement): void {
    const v = item.value;
    if (el.fixed !== undefined && !sameValue(v, el.fixed)) {
      this.report('error', 'value', item.loc, `${el.id}: the value must be exactly ${JSON.stringify(el.fixed)}`);
    }
    if (el.pattern !== undefined && !matchesPattern(v, el.pattern)) {
      this.report('error', 'value', item.loc, `${el.id}: the value must match the pattern ${JSON.stringify(el.pattern)}`);
    }
    if (el.types?.length) this.checkTypes(item, el);
    if (el.binding?.strength === 'required') this.checkBinding(item, el);
    if (el.constraints.length) this.checkConstraints(item, el);
    if (isObj(v)) this.checkChildren(v, el, item.loc);
  }

  private checkTypes(item: Item, el: ProfileElement): void {
    const types = el.types!;
    const choiceType = typeOfKey(item.key, el.name);
    if (choiceType !== undefined && !types.some((t) => sameTypeName(t.code, choiceType))) {
      this.report(
        'error',
        'structure',
        item.loc,
        `${el.id}: type ${choiceType} is not allowed here (allowed: ${types.map((t) => t.code).join(', ')})`,
      );
      return;
    }
    const type = choiceType !== undefined ? types.find((t) => sameTypeName(t.code, choiceType)) : types.length === 1 ? types[0] : undefined;
    const refTypes = types.filter((t) => t.code === 'Reference');
    if (isObj(item.value) && refTypes.length && (choiceType === undefined || sameTypeName(choiceType, 'Reference'))) {
      const targets = refTypes.flatMap((t) => t.targetProfiles ?? []);
      const allowed = targets.map((t) => this.lookup.typeOf(t));
      const got = referenceType(item.value, this.root);
      if (targets.length && got && allowed.every((a) => a !== undefined) && !allowed.includes(got) && !allowed.includes('Resource')) {
        this.report(
          'error',
          'structure',
          item.loc,
          `${el.id}: a reference to ${got} is not allowed here (allowed: ${[...new Set(allowed)].join(', ')})`,
        );
      }
    }
    if (type?.profiles?.length === 1 && isObj(item.value) && type.code !== 'Reference') {
      const profile = this.lookup.profile(type.profiles[0]);
      if (profile) this.checkProfile(profile, item.value, item.loc);
    }
  }

  private checkBinding(item: Item, el: ProfileElement): void {
    const vsUrl = el.binding!.valueSet;
    let expansion: ReturnType<TerminologyRegistry['expansion']>;
    try {
      expansion = this.lookup.terminology.expansion(vsUrl);
    } catch (e) {
      if (!(e instanceof TerminologyError)) throw e;
      this.report('warning', 'not-supported', item.loc, `${el.id}: the required binding to ${vsUrl} was not checked: ${e.message}`);
      return;
    }
    const v = item.value;
    const codings: { system?: string; code: string }[] = [];
    if (typeof v === 'string') codings.push({ code: v });
    else if (isObj(v) && Array.isArray(v.coding)) {
      for (const c of v.coding)
        if (isObj(c) && typeof c.code === 'string') codings.push({ system: typeof c.system === 'string' ? c.system : undefined, code: c.code });
    } else if (isObj(v) && typeof v.code === 'string') codings.push({ system: typeof v.system === 'string' ? v.system : undefined, code: v.code });
    else if (!isObj(v) || typeof v.text !== 'string') return; // no concept to check (only an extension)
    const shown = codings.map((c) => (c.system ? `${c.system}|${c.code}` : c.code)).join(', ');
    if (!codings.length) {
      this.report('error', 'code-invalid', item.loc, `${el.id}: a code from ${vsUrl} is required (required binding), found none`);
      return;
    }
    // A bare system on a Coding/CodeableConcept must match; a `code` element has its system implied.
    const ok = codings.some((c) => (c.system === undefined && typeof v !== 'string' ? false : expansion.check(c.system, c.code).result));
    if (!ok) this.report('error', 'code-invalid', item.loc, `${el.id}: ${shown} is not in the value set ${vsUrl} (required binding)`);
  }

  private checkConstraints(item: Item, el: ProfileElement): void {
    for (const c of el.constraints) {
      let evaluate = compiled.get(c);
      if (evaluate === undefined) {
        const native = nativeConstraint(c.expression);
        evaluate = native ? { run: native, usesEnv: false } : null;
        if (!evaluate) {
          try {
            const fhirpath = compileExpression(el.path.replace(/\[x\]/g, ''), c.expression);
            // fhirpath.js prepares every environment variable on each call: pass them only when used.
            evaluate = { run: fhirpath, usesEnv: /%(resource|rootResource)\b/.test(c.expression) };
          } catch {
            evaluate = null;
          }
        }
        compiled.set(c, evaluate);
      }
      if (!evaluate) {
        this.report('warning', 'not-supported', item.loc, `${c.key}: the constraint does not compile and was not checked`);
        continue;
      }
      let result: unknown[];
      try {
        if (evaluate.usesEnv) this.plainRoot ??= toPlainJson(this.root);
        const env = evaluate.usesEnv ? { resource: this.plainRoot, rootResource: this.plainRoot } : {};
        result = evaluate.run(toPlainJson(item.value), env);
      } catch {
        continue; // undecidable here (as for base invariants): not held against the resource
      }
      if (result.length === 1 && result[0] === false) this.report(c.severity, 'invariant', item.loc, `${c.key}: ${c.human}`);
    }
  }
}

/**
 * Native evaluation of the two constraint shapes profiles use most — a format check `matches('…')` on a primitive,
 * and "an element with one of these values exists" `name.where(a = 'x' or a = 'y').exists()` — with the FHIRPath
 * semantics of those expressions; fhirpath.js costs about 100 µs per call, these a few. Other shapes: undefined.
 */
export function nativeConstraint(expression: string): Evaluator | undefined {
  const m = /^matches\('((?:[^'\\]|\\.)*)'\)$/.exec(expression.trim());
  if (m) {
    let re: RegExp;
    try {
      re = new RegExp(m[1].replace(/\\'/g, "'"), 'su');
    } catch {
      return undefined;
    }
    return (data) => (typeof data === 'string' ? [re.test(data)] : []);
  }
  const w = /^([A-Za-z]+)\.where\((.+)\)\.exists\(\)$/.exec(expression.trim());
  if (!w) return undefined;
  const terms = w[2].split(/\s+or\s+/).map((t) => /^([A-Za-z]+)\s*=\s*'([^'\\]*)'$/.exec(t.trim()));
  if (!terms.every(Boolean)) return undefined;
  const pairs = terms.map((t) => [t![1], t![2]] as const);
  const name = w[1];
  return (data) => {
    if (!isObj(data)) return [false];
    const v = data[name];
    const list = Array.isArray(v) ? v : v === undefined ? [] : [v];
    return [list.some((x) => isObj(x) && pairs.some(([k, val]) => x[k] === val))];
  };
}

/** The type a canonical names: a base R4 definition's type, or a loaded profile's. */
export function coreTypeOf(url: string): string | undefined {
  return url.startsWith(CORE_SD) ? url.slice(CORE_SD.length).split('|')[0] : undefined;
}
