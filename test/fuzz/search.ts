/**
 * Search strings from the server's search parameter registry (fhir/search/registry.ts): real parameters of the
 * type with their modifiers and prefixes, values of the parameter's type (or hostile ones), chains through
 * reference targets up to and past the depth limit, nested `_has`, `_include`/`_revinclude` (also `:iterate`
 * and `*`), `_sort`, `_count`, composite values, escapes, and a few unknown names. Chains, `_has` and iterated
 * includes are drawn often: they are the expensive paths.
 */
import { PREFIXED_TYPES, SORTABLE_TYPES, modifiersOf, searchParams, type ActiveSearchParam } from '../../server/fhir/search/registry';
import { hostileNumberText, hostileString, numberLikeText } from './hostile';
import type { Rng } from './random';
import type { IdBook } from './resources';

const PREFIXES = ['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap'];

export class SearchGenerator {
  constructor(
    private readonly ids: IdBook,
    private readonly resourceTypes: readonly string[],
    private readonly hostility: number,
    /** Most repeats of one criterion (hundreds in the full run: issue 10's unbounded queries). */
    private readonly maxRepeat = 300,
  ) {}

  /** A query string (without `?`) for a search on `type`. */
  query(rng: Rng, type: string): string {
    const parts: string[] = [];
    const n = rng.count(6, 0.45);
    for (let i = 0; i < n; i++) {
      const kind = rng.weighted({ plain: 8, chain: 4, has: 3, result: 4, unknown: 0.3, repeat: 0.5 });
      if (kind === 'plain') parts.push(this.criterion(rng, type, 0));
      else if (kind === 'chain') parts.push(this.chain(rng, type, rng.range(1, 5)));
      else if (kind === 'has') parts.push(this.has(rng, type, rng.range(1, 4)));
      else if (kind === 'result') parts.push(this.resultParam(rng, type));
      else if (kind === 'unknown')
        parts.push(
          `${rng.pick(['foo', '_query', '_filter', 'name:bogus', '', '=', '&', '_has', '_has:', 'subject.', '.name', enc(hostileString(rng))])}=${enc(rng.pick(['x', '', hostileString(rng)]))}`,
        );
      else {
        const c = this.criterion(rng, type, 0);
        const times = Math.min(this.maxRepeat, rng.chance(0.1) ? rng.range(50, 300) : rng.range(2, 10));
        for (let k = 0; k < times; k++) parts.push(c);
      }
    }
    return parts.filter(Boolean).join('&');
  }

  private params(type: string): ActiveSearchParam[] {
    return searchParams(type);
  }

  /** `code[:modifier]=value` for one parameter of `type`. */
  criterion(rng: Rng, type: string, depth: number): string {
    const params = this.params(type);
    if (!params.length) return `_id=${rng.int(10)}`;
    const p = rng.pick(params);
    const mods = modifiersOf(p);
    let name = p.code;
    if (mods.length && rng.chance(0.3)) {
      const m = rng.pick(mods);
      name += m === '[type]' ? `:${rng.pick(p.target?.length ? p.target : this.resourceTypes)}` : `:${m}`;
      if (m === 'missing') return `${name}=${rng.pick(['true', 'false', 'maybe', ''])}`;
    } else if (rng.chance(0.02)) name += `:${rng.pick(['exact', 'text', 'not', 'below', 'above', 'identifier', 'iterate', 'zzz', ''])}`;
    const values = Array.from({ length: rng.count(4, 0.25) }, () => this.value(rng, p, depth));
    return `${enc(name)}=${values.map(enc).join(',')}`;
  }

  /** A value of the parameter's type (escaped), sometimes hostile. */
  value(rng: Rng, p: { type: string; code: string; target?: string[]; components?: { type: string; code: string }[] }, depth = 0): string {
    if (rng.chance(this.hostility))
      return rng.pick([hostileString(rng), numberLikeText(rng), hostileNumberText(rng), '\\', 'a\\', '\\,', '\\|\\$\\\\']);
    const prefix = PREFIXED_TYPES.has(p.type) && rng.chance(0.5) ? rng.pick(PREFIXES) : '';
    switch (p.type) {
      case 'date':
        return (
          prefix +
          rng.pick([
            '2024',
            '2024-03',
            '2024-03-01',
            '2024-03-01T10:00:00Z',
            '2024-03-01T10:00:00+05:30',
            '1900-01-01',
            '9999-12-31',
            '2024-02-30',
            '2024-13',
            '24-03-01',
            'now',
            '2024-03-01T25:00:00Z',
            '0001-01-01',
          ])
        );
      case 'number':
        return prefix + rng.pick(['1', '100', '0.5', '-3', '1e2', '1e400', hostileNumberText(rng), '0']);
      case 'quantity':
        return (
          prefix +
          rng.pick([
            '70',
            '70|http://unitsofmeasure.org|kg',
            '5.4||mg',
            '1e3|http://unitsofmeasure.org|g',
            '1|http://unitsofmeasure.org|[in_i]',
            '3|http://unitsofmeasure.org|m/s2',
            '2||',
            '|||',
            `${hostileNumberText(rng)}|http://unitsofmeasure.org|mg`,
          ])
        );
      case 'token':
        return rng.pick([
          'final',
          'http://loinc.org|8480-6',
          '|abc',
          'http://loinc.org|',
          'https://healthid.ndhm.gov.in|22-7225-4829-5255',
          'female',
          'true',
          'a\\|b',
          'x\\,y',
          '|',
          '||',
          'http://example.org|fz1',
        ]);
      case 'string':
        return rng.pick(['a', 'Mül', 'Alice', 'ra', "o'b", '%', '_', 'x\\,y', '山', 'e\u0301']);
      case 'uri':
        return rng.pick(['http://example.org/fhir/ValueSet/x', 'http://hl7.org/fhir', 'urn:oid:1.2.3', 'x']);
      case 'reference': {
        const known = this.ids.pick(rng, p.target);
        return rng.pick([
          known ?? 'Patient/1',
          known?.split('/')[1] ?? '1',
          'http://example.org/fhir/Patient/1',
          'Patient/',
          'http://hl7.org/fhir/ValueSet/x|4.0.1',
          `${rng.pick(this.resourceTypes)}/x`,
        ]);
      }
      case 'composite': {
        const comps = p.components ?? [];
        return comps.map((c) => this.value(rng, c, depth).replace(/\$/g, '\\$')).join(rng.chance(0.05) ? '$$' : '$');
      }
      case 'special':
        return rng.pick(['10|20|5|km', '-91|0', '0|181|1|m', '45|45', 'x|y', '0|0|1e400|km', '12.9|77.6|10|[mi_i]']);
      default:
        return 'x';
    }
  }

  /** `ref:Target.ref2.….param=value`, `length` links long (the server stops at 4). */
  chain(rng: Rng, type: string, length: number): string {
    let current = type;
    let name = '';
    for (let i = 0; i < length; i++) {
      const refs = this.params(current).filter((p) => p.type === 'reference' && p.target?.length);
      if (!refs.length) break;
      const p = rng.pick(refs);
      const target = rng.pick(p.target!);
      const typed = p.target!.length > 1 || rng.chance(0.3);
      name += `${name ? '.' : ''}${p.code}${typed && rng.chance(0.8) ? `:${target}` : ''}`;
      current = target;
    }
    if (!name) return this.criterion(rng, type, 0);
    const last = this.criterion(rng, current, 1);
    return `${enc(name)}.${last}`;
  }

  /** `_has:Type:ref:…:param=value`, nested `depth` times. */
  has(rng: Rng, type: string, depth: number): string {
    let current = type;
    let name = '';
    for (let i = 0; i < depth; i++) {
      const referrers = this.resourceTypes.filter((t) => this.params(t).some((p) => p.type === 'reference' && (p.target ?? []).includes(current)));
      if (!referrers.length) break;
      const referrer = rng.pick(referrers);
      const p = rng.pick(this.params(referrer).filter((q) => q.type === 'reference' && (q.target ?? []).includes(current)));
      name += `_has:${referrer}:${p.code}:`;
      current = referrer;
    }
    if (!name) return this.criterion(rng, type, 0);
    if (rng.chance(0.2)) return `${name}${this.chain(rng, current, 1)}`;
    return `${name}${this.criterion(rng, current, 1)}`;
  }

  /** `_include`, `_revinclude`, `_sort`, `_count`, `_summary`, `_elements`, `_total`, `_contained`. */
  resultParam(rng: Rng, type: string): string {
    const refParams = (t: string): ActiveSearchParam[] => this.params(t).filter((p) => p.type === 'reference');
    switch (rng.weighted({ include: 3, revinclude: 3, sort: 2, count: 2, summary: 1, elements: 1, total: 1, contained: 0.5 })) {
      case 'include': {
        const iterate = rng.chance(0.5) ? ':iterate' : rng.chance(0.05) ? ':recurse' : '';
        if (rng.chance(0.3)) return `_include${iterate}=*`;
        const src = iterate && rng.chance(0.5) ? rng.pick(this.resourceTypes) : type;
        const refs = refParams(src);
        if (!refs.length) return `_include${iterate}=${src}:*`;
        const p = rng.pick(refs);
        return `_include${iterate}=${src}:${p.code}${p.target?.length && rng.chance(0.4) ? `:${rng.pick(p.target)}` : ''}`;
      }
      case 'revinclude': {
        const iterate = rng.chance(0.4) ? ':iterate' : '';
        if (rng.chance(0.3)) return `_revinclude${iterate}=*`;
        const referrers = this.resourceTypes.filter((t) => refParams(t).some((p) => (p.target ?? []).includes(type)));
        const src = referrers.length ? rng.pick(referrers) : rng.pick(this.resourceTypes);
        const p = refParams(src);
        return `_revinclude${iterate}=${src}:${p.length ? rng.pick(p).code : '*'}`;
      }
      case 'sort': {
        const sortable = this.params(type).filter((p) => SORTABLE_TYPES.has(p.type));
        const keys = Array.from(
          { length: rng.count(4, 0.4) },
          () =>
            `${rng.chance(0.4) ? '-' : ''}${rng.chance(0.85) && sortable.length ? rng.pick(sortable).code : rng.pick(['_id', '_lastUpdated', 'zzz', '', '-'])}`,
        );
        return `_sort=${keys.join(',')}`;
      }
      case 'count':
        return `_count=${rng.pick(['0', '1', '2', '10', '1000', '1001', '-1', '1.5', '99999999999999999999', 'abc', ''])}`;
      case 'summary':
        return `_summary=${rng.pick(['true', 'false', 'text', 'data', 'count', 'x'])}`;
      case 'elements':
        return `_elements=${rng.pick(['id', 'name,gender', 'code,subject', 'zzz', '', '*', 'meta.tag'])}`;
      case 'total':
        return `_total=${rng.pick(['none', 'estimate', 'accurate', 'x'])}`;
      default:
        return `${rng.pick(['_contained', '_containedType'])}=${rng.pick(['true', 'false', 'both', 'container', 'contained', 'x'])}`;
    }
  }
}

/** Percent-encodes a query component, keeping `:`, `|`, `$`, `,` and `\` readable the way clients send them. */
export function enc(s: string): string {
  let out = '';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (cp >= 0xd800 && cp <= 0xdfff)
      out += `%${(0xed).toString(16)}%${(0xa0 | ((cp >> 6) & 0x1f)).toString(16)}%${(0x80 | (cp & 0x3f)).toString(16)}`; // a lone surrogate as (invalid) CESU bytes
    else if (/[A-Za-z0-9\-._~:|$,\\*]/.test(ch)) out += ch;
    else out += encodeURIComponent(ch);
  }
  return out;
}
