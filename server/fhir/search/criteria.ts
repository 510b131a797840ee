/**
 * What a parsed FHIR search is (https://hl7.org/fhir/R4/search.html): typed criteria over normalised values and the
 * result controls. Pure data: repository/search/compile/ turns criteria into SQL, repository/search/execute.ts
 * applies the controls.
 */
import type { InstantRange } from '../datetime';
import type { Issue } from '../outcome';
import type { SearchParamType } from './registry';

export type DatePrefix = 'eq' | 'ne' | 'gt' | 'lt' | 'ge' | 'le' | 'sa' | 'eb' | 'ap';
export type Prefix = DatePrefix;

/** A token value: `system|code`, `|code` (system null), `code` (system undefined: any), `system|` (code null). */
export interface TokenValue {
  system: string | null | undefined;
  code: string | null;
}

export interface NumberValue {
  prefix: Prefix;
  /** exact value as text, and the [low, high) range its precision implies */
  value: string;
  low: string;
  high: string;
}

export interface QuantityValue extends NumberValue {
  system?: string;
  code?: string;
  /** UCUM-canonical value and bounds, when the unit converts */
  canonical?: { unit: string; value: string; low: string; high: string };
}

export interface ReferenceValue {
  type?: string;
  id?: string;
  url?: string;
}

/** A date, dateTime or instant search value: its prefix and the [low, high) range its precision implies. */
export interface DateValue {
  prefix: DatePrefix;
  range: InstantRange;
}

/** Location's near: within `meters` of a WGS84 point. */
export interface NearValue {
  lat: number;
  lng: number;
  meters: number;
}

/** A value of a composite's second or third component (the first is a token). */
export type CompositeSecond =
  | { type: 'token'; value: TokenValue }
  | { type: 'quantity' | 'number'; value: QuantityValue }
  | { type: 'date'; value: DateValue }
  | { type: 'string'; value: string }
  | { type: 'reference'; value: string };

/** One value of a composite parameter: every component is matched on the same element of the resource. */
export interface CompositeValue {
  first: TokenValue;
  second: CompositeSecond;
  /** the third component of a three-component composite (MolecularSequence coordinates) */
  third?: CompositeSecond;
}

export type Criterion =
  | { kind: 'id'; ids: string[] }
  | { kind: 'lastUpdated'; values: DateValue[] }
  // `valueType`: the type the parameter's values are indexed as (a phonetic parameter's keys are tokens)
  | { kind: 'missing'; code: string; valueType: SearchParamType; missing: boolean }
  | { kind: 'token'; code: string; values: TokenValue[]; not?: boolean }
  | { kind: 'terminology'; code: string; modifier: 'in' | 'not-in' | 'above' | 'below'; values: TokenValue[]; resolved?: ResolvedCodes }
  | { kind: 'string'; code: string; mode: 'start' | 'exact' | 'contains'; values: { folded: string; exact: string }[] }
  | { kind: 'text'; code: '_text' | '_content'; values: string[][] }
  // `also`: further AND-ed criteria of the same single-valued parameter, merged by the planner to be tested on
  // the same index row (repository/search/compile/planner.ts mergeRanges); the grammar never sets it
  | { kind: 'date'; code: string; values: DateValue[]; also?: DateValue[][] }
  | { kind: 'number'; code: string; values: NumberValue[]; also?: NumberValue[][] }
  | { kind: 'quantity'; code: string; values: QuantityValue[]; also?: QuantityValue[][] }
  | { kind: 'uri'; code: string; mode: 'exact' | 'above' | 'below'; values: string[] }
  | { kind: 'reference'; code: string; values: ReferenceValue[]; targets?: string[] }
  | { kind: 'composite'; code: string; values: CompositeValue[] }
  | { kind: 'near'; code: string; values: NearValue[] }
  | { kind: 'chain'; code: string; targets: { type: string; criterion: Criterion }[] }
  | { kind: 'has'; type: string; code: string; criterion: Criterion }
  | { kind: 'list'; ids: string[] }
  | { kind: 'compartment'; type: string; id: string };

/** Codes a terminology modifier stands for, read from ValueSet/CodeSystem resources on the server. */
export interface ResolvedCodes {
  /** system undefined: any system */
  pairs: { system: string | null | undefined; code: string }[];
  systems: string[];
}

export interface SortKey {
  code: string;
  descending: boolean;
  type: SearchParamType | 'id' | 'lastUpdated';
}

export interface IncludeSpec {
  sourceType: string;
  /** reference parameter codes (every reference parameter of the source type for `*`) */
  params: string[];
  targetType?: string;
  iterate: boolean;
  reverse: boolean;
}

export interface SearchControls {
  count?: number;
  cursor?: string;
  sort: SortKey[];
  include: IncludeSpec[];
  total?: 'none' | 'estimate' | 'accurate';
  summary?: 'true' | 'text' | 'data' | 'count' | 'false';
  elements?: string[];
  /** search.html#contained: `true` searches contained resources only, `both` top-level and contained ones */
  contained: 'false' | 'true' | 'both';
  /** what a contained match returns: its container (default) or the contained resource itself */
  containedType: 'container' | 'contained';
  types?: string[];
}

export interface ParsedSearch {
  criteria: Criterion[];
  controls: SearchControls;
  /** Parameters ignored under lenient handling, as warnings for the Bundle's OperationOutcome. */
  ignored: Issue[];
}

function sortedJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(sortedJson).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${sortedJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/** A canonical text of criteria (normalised values, order-independent) used as the key of conditional-operation locks. */
export function criteriaKey(resourceType: string, criteria: Criterion[]): string {
  return `${resourceType}?${criteria.map(sortedJson).sort().join('&')}`;
}
