/**
 * The one paging cursor of every paged read — search, contained search, history and `$everything`: an opaque
 * `_cursor` value holding the keyset position a page continues from (never an OFFSET, so pages neither skip nor
 * repeat what others write between fetches).
 *
 * A position is the section of the result (a search sorted by a parameter lists the resources without a value in a
 * second section; `$everything` lists the focal resource and members before what they reference), the sort key
 * values of the row the page continues after (the last ones a unique tie-break), the direction, and optionally a
 * value the whole paging is pinned to (history's commit horizon). Each reader checks that a decoded position fits
 * its own order, so a cursor of another search is refused rather than misread.
 */
import { badRequest } from '../fhir/outcome';

export interface PagePosition {
  section: number;
  /** The sort key values of the row to continue after (before, going backward), as text; null: no value. */
  keys: (string | null)[];
  /** A `previous` page: continue before the row, walking the order backwards. */
  backward?: boolean;
  /** A value every page of the paging shares (history: the commit horizon). */
  pin?: string;
}

/** The wire form: a JSON array [section, keys, backward (0|1), pin?], base64url. */
export function encodeCursor(p: PagePosition): string {
  const wire: unknown[] = [p.section, p.keys, p.backward ? 1 : 0];
  if (p.pin !== undefined) wire.push(p.pin);
  return Buffer.from(JSON.stringify(wire)).toString('base64url');
}

const corrupt = () => badRequest('Invalid or corrupted paging cursor (_cursor): start the search again', '_cursor');

/**
 * The position of a `_cursor`; a 400 when it is not one, or when `fits` says it does not belong to the paging at
 * hand (a cursor of another search, or of an older server).
 */
export function decodeCursor(text: string, fits: (p: PagePosition) => boolean = () => true): PagePosition {
  let wire: unknown;
  try {
    wire = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    throw corrupt();
  }
  if (!Array.isArray(wire) || wire.length < 3 || wire.length > 4) throw corrupt();
  const [section, keys, backward, pin] = wire as unknown[];
  if (typeof section !== 'number' || !Number.isInteger(section) || section < 0) throw corrupt();
  if (!Array.isArray(keys) || keys.some((k) => k !== null && typeof k !== 'string')) throw corrupt();
  if (backward !== 0 && backward !== 1) throw corrupt();
  if (pin !== undefined && typeof pin !== 'string') throw corrupt();
  const p: PagePosition = { section, keys: keys as (string | null)[] };
  if (backward === 1) p.backward = true;
  if (pin !== undefined) p.pin = pin;
  if (!fits(p)) throw badRequest('The paging cursor (_cursor) does not belong to this search: start the search again', '_cursor');
  return p;
}
