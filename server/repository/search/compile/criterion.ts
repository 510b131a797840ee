/** A criterion on one index table, by its parameter type (one file each); `:missing` for every type. */
import type { Criterion } from '../../../fhir/search/criteria';
import type { SearchParamType } from '../../../fhir/search/registry';
import { compositeIndex } from './composite';
import { dateIndex } from './date';
import { nearIndex } from './near';
import { numberIndex } from './number';
import { quantityIndex } from './quantity';
import { referenceIndex } from './reference';
import type { IndexCondition, SqlBuilder } from './sql';
import { stringIndex } from './string';
import { textIndex } from './text';
import { terminologyIndex, tokenIndex } from './token';
import { uriIndex } from './uri';

/** The index table of each parameter type (`special`: Location's near, the only special parameter indexed). */
const TABLE: Record<SearchParamType, string> = {
  token: 'search_token',
  string: 'search_string',
  date: 'search_date',
  number: 'search_number',
  quantity: 'search_quantity',
  uri: 'search_uri',
  reference: 'search_reference',
  composite: 'search_composite',
  special: 'search_geo',
};

/** The index-table form of a criterion, for the kinds that have one. */
export function indexCondition(b: SqlBuilder, c: Criterion): IndexCondition | undefined {
  switch (c.kind) {
    case 'missing':
      // a resource has a value of the parameter iff it has an index row of it
      return { table: TABLE[c.valueType], param: c.code, cond: () => 'true', negate: c.missing };
    case 'token':
      return tokenIndex(b, c);
    case 'terminology':
      return terminologyIndex(b, c);
    case 'string':
      return stringIndex(b, c);
    case 'text':
      return textIndex(b, c);
    case 'date':
      return dateIndex(b, c);
    case 'number':
      return numberIndex(b, c);
    case 'quantity':
      return quantityIndex(b, c);
    case 'uri':
      return uriIndex(b, c);
    case 'reference':
      return referenceIndex(b, c);
    case 'near':
      return nearIndex(b, c);
    case 'composite':
      return compositeIndex(b, c);
    default:
      return undefined;
  }
}
