/**
 * Structure-aware resource generation from the R4 definitions the server itself loads (fhir/definitions.ts
 * r4Model): every element of a resource type with its types, cardinality, choice types (`value[x]` →
 * `valueQuantity`…), BackboneElements, content references (`Questionnaire.item.item`), contained resources,
 * extensions and primitive companions (`_birthDate`). Values are typed and mostly plausible, so resources get past
 * JSON parsing and reach validation, indexing and storage; with probability `hostility` a primitive is replaced
 * by a hostile value (hostile.ts) or a value of the wrong JSON type.
 */
import { r4Model, type ElementDef, type R4Model, type TypeDef } from '../../server/fhir/definitions';
import { RawJson, RawNumber, hostileNumberText, hostileString, numberLikeText } from './hostile';
import type { Rng } from './random';

/** Resource ids the run knows (seeded, or written by an earlier request), by type: references point at them. */
export class IdBook {
  private byType = new Map<string, string[]>();

  add(type: string, id: string): void {
    const ids = this.byType.get(type) ?? [];
    if (!ids.includes(id)) ids.push(id);
    if (ids.length > 200) ids.shift();
    this.byType.set(type, ids);
  }

  ids(type: string): readonly string[] {
    return this.byType.get(type) ?? [];
  }

  types(): string[] {
    return [...this.byType.keys()].filter((t) => this.ids(t).length > 0);
  }

  /** `Type/id` of a known resource of one of the types (any type when none given), if there is one. */
  pick(rng: Rng, types?: readonly string[]): string | undefined {
    const candidates = (types?.length ? types : this.types()).filter((t) => this.ids(t).length > 0);
    if (!candidates.length) return undefined;
    const type = rng.pick(candidates);
    return `${type}/${rng.pick(this.ids(type))}`;
  }
}

export interface GenOptions {
  /** Probability that a primitive value is hostile. */
  hostility: number;
  /** Elements below this depth are left out (unless required). */
  maxDepth: number;
  /** Probability of including an optional element at depth 0 (halved per level). */
  optional: number;
  /** Extra reference forms allowed here (e.g. a bundle's urn:uuid fullUrls). */
  extraRefs?: readonly string[];
  /**
   * Plausible resources: common datatypes filled in sensibly, no extensions or nested structure beyond what is
   * required, references only to known resources; most of them pass validation and get stored and indexed.
   */
  plausible?: boolean;
}

/** Element types a plausible resource fills in at the top level. */
const PLAUSIBLE_TYPES = new Set(['Reference', 'CodeableConcept', 'Coding', 'Identifier', 'HumanName', 'Quantity', 'Period']);
const SKIPPED_IN_PLAUSIBLE = new Set(['extension', 'modifierExtension', 'contained', 'meta', 'text', 'implicitRules', 'language']);

const DEFAULTS: GenOptions = { hostility: 0.05, maxDepth: 4, optional: 0.35 };
const PROFILE_PREFIX = 'http://hl7.org/fhir/StructureDefinition/';

export class ResourceGenerator {
  private model: R4Model;
  private children = new Map<string, Map<string, ElementDef[]>>();

  constructor(readonly ids: IdBook) {
    this.model = r4Model();
  }

  get resourceTypes(): readonly string[] {
    return this.model.resourceTypes;
  }

  /** A random resource of `type`. */
  resource(rng: Rng, type: string, opts: Partial<GenOptions> = {}): Record<string, unknown> {
    const o = { ...DEFAULTS, ...opts };
    const def = this.model.types[type];
    if (!def) throw new Error(`unknown type ${type}`);
    return { resourceType: type, ...this.complex(rng, def, type, 0, o, true) };
  }

  private childrenOf(def: TypeDef, path: string): ElementDef[] {
    let byPath = this.children.get(def.name);
    if (!byPath) {
      byPath = new Map();
      for (const e of def.elements.slice(1)) {
        const parent = e.path.slice(0, e.path.lastIndexOf('.'));
        byPath.set(parent, [...(byPath.get(parent) ?? []), e]);
      }
      this.children.set(def.name, byPath);
    }
    return byPath.get(path) ?? [];
  }

  private complex(rng: Rng, def: TypeDef, path: string, depth: number, o: GenOptions, isResource = false): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const el of this.childrenOf(def, path)) {
      const name = el.path.slice(el.path.lastIndexOf('.') + 1);
      if (name === 'id' && !isResource && !rng.chance(0.05)) continue;
      if (name === 'modifierExtension' && !rng.chance(0.02)) continue;
      if (name === 'contained' && (depth > 0 || !rng.chance(0.1))) continue;
      if (name === 'implicitRules' && !rng.chance(0.02)) continue;
      const required = el.min > 0;
      const p = (o.optional / 2 ** depth) * (name === 'extension' || name === 'meta' ? 0.3 : 1);
      if (!required && (depth >= o.maxDepth || !rng.chance(p))) continue;
      const choice = name.endsWith('[x]');
      let types = el.types.length ? el.types : [{ code: 'string' }];
      if (o.plausible) {
        if (!required && (SKIPPED_IN_PLAUSIBLE.has(name) || depth > 0)) continue;
        const easy = types.filter((t) => this.isPrimitive(t.code) || PLAUSIBLE_TYPES.has(t.code));
        if (!easy.length && !required) continue;
        if (easy.length) types = easy;
      }
      const type = rng.pick(types);
      const key = choice ? name.slice(0, -3) + type.code[0]!.toUpperCase() + type.code.slice(1) : name;
      const n = el.array ? (rng.chance(0.03) ? rng.range(2, 60) : rng.count(3, 0.3)) : 1;
      const values: unknown[] = [];
      for (let i = 0; i < n; i++) {
        const v = o.plausible ? this.plausibleValue(rng, type, el, o) : undefined;
        values.push(v ?? this.value(rng, def, el, type, depth, o, isResource && name === 'id'));
      }
      if (
        o.plausible &&
        values.some((v) => v === null || (typeof v === 'object' && !(v instanceof RawNumber) && Object.keys(v as object).length === 0))
      )
        continue;
      out[key] = el.array && !rng.chance(0.01) ? values : values[0]; // rarely a single value where an array belongs
      if (this.isPrimitive(type.code) && rng.chance(o.hostility / 2))
        out[`_${key}`] = el.array
          ? values.map(() => (rng.chance(0.5) ? null : { extension: [this.extension(rng, depth + 1, o)] }))
          : { id: 'p1', extension: [this.extension(rng, depth + 1, o)] };
    }
    if (!isResource && Object.keys(out).length === 0) {
      // FHIR has no empty objects: give it one primitive child (rarely, leave it empty on purpose)
      const prims = this.childrenOf(def, path).filter(
        (e) => !e.path.endsWith('.id') && !e.contentReference && e.types.some((t) => this.isPrimitive(t.code)),
      );
      if (prims.length && !rng.chance(o.hostility / 4)) {
        const el = rng.pick(prims);
        const type = rng.pick(el.types.filter((t) => this.isPrimitive(t.code)));
        const name = el.path.slice(el.path.lastIndexOf('.') + 1);
        const key = name.endsWith('[x]') ? name.slice(0, -3) + type.code[0]!.toUpperCase() + type.code.slice(1) : name;
        const v = this.primitive(rng, type.code, el, o);
        out[key] = el.array ? [v] : v;
      }
    }
    return out;
  }

  private isPrimitive(code: string): boolean {
    return this.model.types[code]?.kind === 'primitive-type' || code.startsWith('System.');
  }

  private value(
    rng: Rng,
    def: TypeDef,
    el: ElementDef,
    type: { code: string; targetProfiles?: string[] },
    depth: number,
    o: GenOptions,
    resourceId: boolean,
  ): unknown {
    if (el.contentReference) {
      const ref = el.contentReference.replace(/^#/, '');
      return depth + 1 >= o.maxDepth ? {} : this.complex(rng, def, ref, depth + 1, o);
    }
    const code = type.code;
    if (this.isPrimitive(code)) return resourceId ? this.id(rng, o) : this.primitive(rng, code, el, o);
    switch (code) {
      case 'BackboneElement':
      case 'Element':
        return this.complex(rng, def, el.path, depth + 1, o);
      case 'Resource':
        return depth + 1 >= o.maxDepth
          ? { resourceType: 'Basic', code: { text: 'x' } }
          : this.resource(rng, rng.pick(this.resourceTypes), { ...o, maxDepth: o.maxDepth - depth - 1 });
      case 'Reference':
        return this.reference(
          rng,
          (type.targetProfiles ?? []).map((p) => p.replace(PROFILE_PREFIX, '')),
          o,
        );
      case 'Extension':
        return this.extension(rng, depth + 1, o);
      case 'Narrative':
        return { status: 'generated', div: this.xhtml(rng, o) };
      default: {
        const t = this.model.types[code];
        return t ? this.complex(rng, t, code, depth + 1, o) : {};
      }
    }
  }

  /** A sensible value of a common datatype (hostile primitives inside as usual), or undefined for others. */
  private plausibleValue(rng: Rng, type: { code: string; targetProfiles?: string[] }, el: ElementDef, o: GenOptions): unknown {
    const str = (normal: string): unknown => (rng.chance(o.hostility) ? this.primitive(rng, 'string', undefined, o) : normal);
    switch (type.code) {
      case 'Reference': {
        const targets = (type.targetProfiles ?? []).map((p) => p.replace(PROFILE_PREFIX, '')).filter((t) => t !== 'Resource');
        const known = this.ids.pick(rng, targets.length ? targets : undefined);
        const extra = o.extraRefs?.length && rng.chance(0.5) ? rng.pick(o.extraRefs) : undefined;
        if (rng.chance(o.hostility)) return this.reference(rng, targets, o);
        return extra || known ? { reference: extra ?? known } : {};
      }
      case 'CodeableConcept':
        return {
          coding: [
            {
              system: rng.pick(['http://loinc.org', 'http://snomed.info/sct', 'http://example.org/codes']),
              code: str(rng.pick(['8480-6', '1234', 'abc', 'x-1'])),
              display: str('Some code'),
            },
          ],
          text: str(rng.pick(['Blood pressure', 'Müller', 'x'])),
        };
      case 'Coding':
        return { system: 'http://example.org/codes', code: str(rng.pick(['a', 'b', 'c'])) };
      case 'Identifier':
        return {
          system: rng.pick(['http://example.org', 'https://healthid.abdm.gov.in', 'urn:oid:1.2.3']),
          value: str(rng.pick([String(rng.int(20)), '91-1234-5678-9012', 'MRN-1'])),
        };
      case 'HumanName':
        return { family: str(rng.pick(['Müller', 'Sharma', "O'Brien", 'Lee'])), given: [str(rng.pick(['Asha', 'Jürgen', 'Li']))] };
      case 'Quantity':
        return {
          value: rng.chance(o.hostility) ? new RawNumber(hostileNumberText(rng)) : new RawNumber(rng.pick(['70', '120.5', '0.001', '5'])),
          unit: 'kg',
          system: 'http://unitsofmeasure.org',
          code: rng.pick(['kg', 'g', 'mm[Hg]', 'mg']),
        };
      case 'Period':
        return { start: this.primitive(rng, 'dateTime', undefined, o) };
      default:
        return undefined;
    }
  }

  extension(rng: Rng, depth: number, o: GenOptions): Record<string, unknown> {
    const url = rng.chance(o.hostility) ? hostileString(rng) : `http://example.org/fhir/StructureDefinition/${rng.pick(['a', 'b', 'nested', 'x-y'])}`;
    if (depth < o.maxDepth && rng.chance(0.2)) return { url, extension: [this.extension(rng, depth + 1, o)] };
    const ext = this.model.types.Extension!;
    const valueEl = ext.elements.find((e) => e.path === 'Extension.value[x]')!;
    const type = rng.pick(valueEl.types);
    const key = `value${type.code[0]!.toUpperCase()}${type.code.slice(1)}`;
    return { url, [key]: this.value(rng, ext, valueEl, type, depth, o, false) };
  }

  /** A reference to a known resource of a target type, or an odd form (absolute, contained, conditional, hostile). */
  reference(rng: Rng, targets: string[], o: GenOptions): Record<string, unknown> {
    const concrete = targets.filter((t) => t !== 'Resource');
    const known = this.ids.pick(rng, concrete.length ? concrete : undefined);
    let reference: string;
    const roll = rng.float();
    if (roll < o.hostility) reference = hostileString(rng);
    else if (o.extraRefs?.length && roll < 0.5) reference = rng.pick(o.extraRefs);
    else if (known && roll < 0.85) reference = known;
    else
      reference = rng.pick([
        `${rng.pick(concrete.length ? concrete : this.resourceTypes)}/${this.id(rng, o)}`,
        'http://example.org/fhir/Patient/1',
        ...(o.hostility > 0 ? ['#c1', '#'] : []),
        `urn:uuid:${uuid(rng)}`,
        `${rng.pick(concrete.length ? concrete : ['Patient'])}?identifier=http://example.org|${rng.int(10)}`,
        'Patient/',
        '/Patient/1',
        'Patient/1/_history/1',
      ]);
    const out: Record<string, unknown> = { reference };
    if (rng.chance(0.1)) out.display = rng.chance(o.hostility * 4) ? hostileString(rng) : 'someone';
    if (rng.chance(0.05)) out.identifier = { system: 'http://example.org', value: String(rng.int(100)) };
    return out;
  }

  id(rng: Rng, o: GenOptions): string {
    if (rng.chance(o.hostility)) return rng.pick([hostileString(rng), 'a'.repeat(65), '-', '..', 'a/b', 'a b', '']);
    return `fz${rng.u32().toString(36)}`;
  }

  xhtml(rng: Rng, o: GenOptions): string {
    const inner = rng.chance(o.hostility * 4)
      ? rng.pick([
          hostileString(rng),
          '<script>alert(1)</script>',
          '<img src="http://evil.example/x.png"/>',
          '<a href="javascript:alert(1)">x</a>',
          '<p onclick="x()">x</p>',
          '<p>unclosed',
          `${'<div>'.repeat(200)}${'</div>'.repeat(200)}`,
          '<![CDATA[x]]>',
          '<!DOCTYPE x [<!ENTITY e "x">]><p>&e;</p>',
          '&amp;&lt;&#x0;&#xD800;&unknown;',
        ])
      : `<p>${rng.pick(['Text', 'Müller', 'मरीज़', 'مريض'])} ${rng.int(1000)}</p>`;
    return `<div xmlns="http://www.w3.org/1999/xhtml">${inner}</div>`;
  }

  /** A primitive value of the FHIR type `code` (sometimes hostile, sometimes of the wrong JSON type). */
  primitive(rng: Rng, code: string, el: ElementDef | undefined, o: GenOptions): unknown {
    if (rng.chance(o.hostility)) return this.hostilePrimitive(rng, code);
    switch (code) {
      case 'boolean':
        return rng.chance(0.5);
      case 'integer':
        return rng.range(-1000, 1000);
      case 'unsignedInt':
        return rng.int(1000);
      case 'positiveInt':
        return rng.range(1, 1000);
      case 'decimal':
        return new RawNumber(rng.pick(['0', '1', '12.30', '235.40', '0.001', '-3.5', '100', '7e2', '98.6']));
      case 'date':
        return randomDate(rng).slice(0, rng.pick([4, 7, 10]));
      case 'dateTime':
        return rng.chance(0.3) ? randomDate(rng).slice(0, 10) : `${randomDate(rng)}T${time(rng)}${rng.pick(['Z', '+05:30', '-03:00'])}`;
      case 'instant':
        return `${randomDate(rng)}T${time(rng)}.${rng.int(1000)}Z`;
      case 'time':
        return time(rng);
      case 'code':
        return el?.requiredCodes?.length && !rng.chance(0.03) ? rng.pick(el.requiredCodes) : rng.pick(['a', 'final', 'active', 'x-y', '123']);
      case 'uri':
      case 'url':
      case 'canonical':
        return rng.pick([
          'http://example.org/fhir/ValueSet/x',
          'http://loinc.org',
          'urn:oid:1.2.3',
          'https://healthid.abdm.gov.in',
          'http://hl7.org/fhir/StructureDefinition/Patient',
          'ftp://x/y',
        ]);
      case 'oid':
        return `urn:oid:1.2.${rng.int(100000)}`;
      case 'uuid':
        return `urn:uuid:${uuid(rng)}`;
      case 'id':
        return this.id(rng, o);
      case 'base64Binary':
        return Buffer.from(Array.from({ length: rng.int(40) }, () => rng.int(256))).toString('base64');
      case 'xhtml':
        return this.xhtml(rng, o);
      case 'System.String':
        return `fz${rng.int(1_000_000)}`;
      default:
        return rng.pick(['Alice', 'Müller', 'राम', 'Test value', 'x', "O'Brien", '山田']);
    }
  }

  private hostilePrimitive(rng: Rng, code: string): unknown {
    const numeric = ['integer', 'unsignedInt', 'positiveInt', 'decimal'].includes(code);
    switch (rng.int(numeric ? 6 : 7)) {
      case 0:
        return rng.pick([null, {}, [], [null], true, new RawJson('{"a":[1,{"b":null}]}')]);
      case 1:
        return numberLikeText(rng);
      case 2:
      case 3:
        return numeric ? new RawNumber(hostileNumberText(rng)) : hostileString(rng);
      case 4:
        return new RawNumber(hostileNumberText(rng));
      default:
        return hostileString(rng);
    }
  }
}

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

function randomDate(rng: Rng): string {
  const year = rng.chance(0.05) ? rng.pick([1, 999, 1000, 1582, 9999]) : rng.range(1900, 2030);
  return `${pad(year, 4)}-${pad(rng.range(1, 12))}-${pad(rng.range(1, 28))}`;
}

function time(rng: Rng): string {
  return `${pad(rng.int(24))}:${pad(rng.int(60))}:${pad(rng.int(60))}`;
}

export function uuid(rng: Rng): string {
  const h = (n: number): string => Array.from({ length: n }, () => rng.int(16).toString(16)).join('');
  return `${h(8)}-${h(4)}-4${h(3)}-${rng.pick(['8', '9', 'a', 'b'])}${h(3)}-${h(12)}`;
}
