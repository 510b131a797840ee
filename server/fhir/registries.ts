/**
 * National registries (HMS-DOMAIN.md §0, §3.2): identifiers that name exactly one resource on the server — one
 * Patient per NHID (ABHA number), one Organization per HFR id, one Practitioner per HPR id by default. The write
 * engine claims each such identifier of a written resource in a claim table (repository/bundle-plan.ts, DESIGN.md
 * §3), so uniqueness holds under concurrent writes; this module says which identifiers are claimed and how two
 * values are compared. No I/O.
 *
 * Comparison is alias- and format-aware: a legacy `ndhm.gov.in` system is its `abdm.gov.in` twin (normalise.ts
 * canonicalSystem), and for the national systems hyphens and spaces do not count (`91-1234-5678-9012` =
 * `91123456789012`). Systems an operator adds compare values exactly.
 */
import { canonicalSystem } from './search/normalise';

export interface UniqueIdentifierRule {
  resourceType: string;
  /** Canonical system (aliases already mapped). */
  system: string;
  /** How messages name the identifier. */
  label: string;
  /** Hyphens and spaces are ignored when comparing values. */
  loose: boolean;
}

export const DEFAULT_UNIQUE_IDENTIFIERS: readonly UniqueIdentifierRule[] = Object.freeze([
  { resourceType: 'Patient', system: 'https://healthid.abdm.gov.in', label: 'NHID (ABHA number)', loose: true },
  { resourceType: 'Organization', system: 'https://facility.abdm.gov.in', label: 'HFR facility id', loose: true },
  { resourceType: 'Practitioner', system: 'https://hpr.abdm.gov.in', label: 'HPR id', loose: true },
]);

const LOOSE = new Set(DEFAULT_UNIQUE_IDENTIFIERS.map((r) => r.system));
const ENTRY = /^(-?)([A-Z][A-Za-z]+)\|(\S+)$/;

/**
 * `AROGYA_UNIQUE_IDENTIFIERS`: comma-separated changes to the default list — `Type|system` adds a unique system,
 * `-Type|system` removes one, `none` (first) starts from an empty list. Throws on anything else.
 */
export function parseUniqueIdentifiers(spec: string | undefined): UniqueIdentifierRule[] {
  let rules = [...DEFAULT_UNIQUE_IDENTIFIERS];
  const items = (spec ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  items.forEach((item, i) => {
    if (item === 'none') {
      if (i !== 0) throw new Error(`'none' must come first (it clears the default list), got it at position ${i + 1}`);
      rules = [];
      return;
    }
    const m = ENTRY.exec(item);
    if (!m) throw new Error(`'${item}' is not Type|system or -Type|system`);
    const [, minus, resourceType, raw] = m;
    const system = canonicalSystem(raw);
    rules = rules.filter((r) => !(r.resourceType === resourceType && r.system === system));
    if (!minus) rules.push({ resourceType, system, label: `identifier ${system}`, loose: LOOSE.has(system) });
  });
  return rules;
}

/** The value as claimed: hyphens and spaces dropped for the national systems. */
export function claimedValue(rule: UniqueIdentifierRule, value: string): string {
  return rule.loose ? value.replace(/[\s-]+/g, '') : value;
}

export interface RegistryKey {
  rule: UniqueIdentifierRule;
  /** The claimed (normalised) value. */
  value: string;
}

/**
 * The unique identifiers a written version carries, from its extracted `identifier` index rows
 * (`[param, canonical system, indexed value]`): distinct, in order.
 */
export function registryKeys(
  rules: readonly UniqueIdentifierRule[],
  resourceType: string,
  tokenRows: readonly unknown[][] | undefined,
): RegistryKey[] {
  const mine = rules.filter((r) => r.resourceType === resourceType);
  if (mine.length === 0 || !tokenRows) return [];
  const out: RegistryKey[] = [];
  const seen = new Set<string>();
  for (const [param, system, code] of tokenRows) {
    if (param !== 'identifier' || typeof system !== 'string' || typeof code !== 'string') continue;
    const rule = mine.find((r) => r.system === system);
    if (!rule) continue;
    const value = claimedValue(rule, code);
    if (value === '' || seen.has(`${system}|${value}`)) continue;
    seen.add(`${system}|${value}`);
    out.push({ rule, value });
  }
  return out;
}
