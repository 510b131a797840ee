/**
 * A profile (a constraint StructureDefinition) compiled for validation: its differential turned into a tree of
 * constrained elements, keyed by JSON property, with slices under the element they slice.
 * https://hl7.org/fhir/R4/profiling.html, https://hl7.org/fhir/R4/elementdefinition.html
 *
 * Only what the differential says is compiled. Whatever the profile inherits from the base resource is already
 * checked by base validation, so checking the differential (plus the base profile's, for a profile derived from
 * another loaded profile) is the same as checking the snapshot. snapshot.ts builds the full snapshot from the same
 * tree and the base R4 definitions.
 */
import type { Constraint } from '../../definitions';
import type { Definition } from '../../terminology/expand';

export interface ProfileType {
  code: string;
  profiles?: string[];
  targetProfiles?: string[];
}

export interface Discriminator {
  type: 'value' | 'pattern' | 'type' | 'profile' | 'exists';
  path: string;
}

export interface Slicing {
  discriminator: Discriminator[];
  rules: 'open' | 'closed' | 'openAtEnd';
  ordered: boolean;
}

export interface ProfileElement {
  /** ElementDefinition.id, e.g. `Patient.identifier:nhid.system`. */
  id: string;
  /** The base path (no slice names), e.g. `Patient.identifier.system`: the FHIRPath base of its constraints. */
  path: string;
  /** The JSON property it constrains: `system`, `value[x]` (any `value…` key) or `valueQuantity`. */
  name: string;
  sliceName?: string;
  min?: number;
  max?: number;
  fixed?: unknown;
  pattern?: unknown;
  types?: ProfileType[];
  binding?: { strength: string; valueSet: string };
  constraints: Constraint[];
  slicing?: Slicing;
  children: ProfileElement[];
  slices: ProfileElement[];
  /** The differential's ElementDefinition (for the snapshot). */
  source?: Definition;
}

export interface CompiledProfile {
  url: string;
  /** The resource or data type it constrains. */
  type: string;
  /** Canonical of the base definition: a base R4 type or another profile. */
  baseDefinition: string;
  /** Kind: resource, complex-type (e.g. an Extension definition), … */
  kind: string;
  root: ProfileElement;
  definition: Definition;
}

export class ProfileError extends Error {}

function newElement(id: string, path: string, name: string, sliceName?: string): ProfileElement {
  return { id, path, name, sliceName, constraints: [], children: [], slices: [] };
}

/** The `fixed[x]` / `pattern[x]` value of an ElementDefinition. */
function choiceValue(ed: Definition, prefix: 'fixed' | 'pattern'): unknown {
  for (const k of Object.keys(ed)) if (k.startsWith(prefix) && k.length > prefix.length && /[A-Z]/.test(k[prefix.length])) return ed[k];
  return undefined;
}

/** `Patient.identifier:nhid.system` → [['Patient'], ['identifier','nhid'], ['system']] (slice names may hold dots only after `:`). */
function idSegments(id: string): { name: string; slice?: string }[] {
  const out: { name: string; slice?: string }[] = [];
  let i = 0;
  while (i < id.length) {
    let j = i;
    while (j < id.length && id[j] !== '.' && id[j] !== ':') j++;
    const name = id.slice(i, j);
    let slice: string | undefined;
    if (id[j] === ':') {
      let k = j + 1;
      while (k < id.length && id[k] !== '.') k++;
      slice = id.slice(j + 1, k);
      j = k;
    }
    out.push({ name, slice });
    i = j + 1;
  }
  return out;
}

/** Element ids of old differentials that carry only paths: the slice an element belongs to follows the order. */
function deriveIds(elements: Definition[]): string[] {
  const openSlices = new Map<string, string>(); // path → its current slice id
  return elements.map((ed) => {
    const path = String(ed.path);
    const parts = path.split('.');
    let id = parts[0];
    let prefixPath = parts[0];
    for (let i = 1; i < parts.length; i++) {
      prefixPath += `.${parts[i]}`;
      const sliced = i < parts.length - 1 ? openSlices.get(prefixPath) : undefined;
      id = sliced ?? `${id}.${parts[i]}`;
    }
    if (typeof ed.sliceName === 'string') {
      id = `${id}:${ed.sliceName}`;
      openSlices.set(path, id);
    } else if (!ed.id) {
      openSlices.delete(path);
    }
    return typeof ed.id === 'string' ? ed.id : id;
  });
}

function toConstraints(list: unknown): Constraint[] {
  if (!Array.isArray(list)) return [];
  return list
    .filter((c: Definition) => c && typeof c.key === 'string' && typeof c.expression === 'string')
    .map((c: Definition) => ({
      key: c.key,
      severity: c.severity === 'warning' ? 'warning' : 'error',
      human: String(c.human ?? c.key),
      expression: c.expression,
    }));
}

function applyDefinition(el: ProfileElement, ed: Definition): void {
  el.source = ed;
  if (typeof ed.min === 'number') el.min = ed.min;
  if (typeof ed.max === 'string') el.max = ed.max === '*' ? Infinity : Number(ed.max);
  const fixed = choiceValue(ed, 'fixed');
  if (fixed !== undefined) el.fixed = fixed;
  const pattern = choiceValue(ed, 'pattern');
  if (pattern !== undefined) el.pattern = pattern;
  if (Array.isArray(ed.type) && ed.type.length) {
    el.types = ed.type.map((t: Definition) => ({
      code: String(t.code),
      profiles: Array.isArray(t.profile) ? t.profile : undefined,
      targetProfiles: Array.isArray(t.targetProfile) ? t.targetProfile : undefined,
    }));
  }
  if (ed.binding && typeof ed.binding.valueSet === 'string') el.binding = { strength: String(ed.binding.strength), valueSet: ed.binding.valueSet };
  el.constraints = toConstraints(ed.constraint);
  if (ed.slicing) {
    const discriminator = (Array.isArray(ed.slicing.discriminator) ? ed.slicing.discriminator : []).map((d: Definition) => ({
      type: d.type,
      path: String(d.path ?? '$this'),
    }));
    el.slicing = { discriminator, rules: ed.slicing.rules ?? 'open', ordered: Boolean(ed.slicing.ordered) };
  }
}

/** Compiles a constraint StructureDefinition (its differential). Throws ProfileError when it is not one. */
export function compileProfile(sd: Definition): CompiledProfile {
  if (sd.resourceType !== 'StructureDefinition') throw new ProfileError('not a StructureDefinition');
  if (typeof sd.url !== 'string' || typeof sd.type !== 'string') throw new ProfileError('a StructureDefinition needs url and type');
  if (sd.derivation !== 'constraint') throw new ProfileError(`${sd.url} is not a constraint (derivation ${sd.derivation})`);
  const elements: Definition[] = Array.isArray(sd.differential?.element) ? sd.differential.element : [];
  const type = String(sd.type);
  const root = newElement(type, type, type);
  const ids = deriveIds(elements);
  elements.forEach((ed, i) => {
    const segs = idSegments(ids[i]);
    if (segs[0].name !== type) throw new ProfileError(`${sd.url}: element ${ids[i]} is not under ${type}`);
    let el = root;
    let path = type;
    let id = type;
    for (let s = 1; s < segs.length; s++) {
      const { name, slice } = segs[s];
      path += `.${name}`;
      id += `.${name}`;
      let child = el.children.find((c) => c.name === name);
      if (!child) el.children.push((child = newElement(id, path.replace(/\.(\w+)\[x\]/g, '.$1[x]'), name)));
      el = child;
      if (slice) {
        id += `:${slice}`;
        // `value[x]:valueQuantity` is the type-renaming form of a choice: the same as a `valueQuantity` element.
        let sl = el.slices.find((c) => c.sliceName === slice);
        if (!sl) el.slices.push((sl = newElement(id, el.path, el.name, slice)));
        el = sl;
      }
    }
    applyDefinition(el, ed);
  });
  return { url: sd.url, type, baseDefinition: String(sd.baseDefinition ?? ''), kind: String(sd.kind ?? 'resource'), root, definition: sd };
}
