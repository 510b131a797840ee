/**
 * FHIR date/dateTime/instant values as time ranges (https://hl7.org/fhir/R4/search.html#date): a value stands for
 * the whole interval its precision implies (`2024` = all of 2024). A value without a time zone is taken in the
 * server's configured zone (AROGYA_TIMEZONE, default UTC).
 */
import { badRequest } from './outcome';

export interface InstantRange {
  /** inclusive lower bound, ISO-8601 UTC */
  low: string;
  /** exclusive upper bound, ISO-8601 UTC */
  high: string;
}

/**
 * The instants PostgreSQL reads from ISO text are in years 0001–9999 (JavaScript writes others as ±YYYYYY, which
 * it refuses): range bounds are clamped to them, so `9999-12-31` or an `ap` window past year 9999 stays searchable.
 */
const MIN_INSTANT = -62135596800000; // 0001-01-01T00:00:00.000Z
const MAX_INSTANT = 253402300799999; // 9999-12-31T23:59:59.999Z

/** An instant (UTC milliseconds) as ISO text PostgreSQL reads, clamped to years 0001–9999. */
export function instantText(ms: number): string {
  return new Date(Math.min(MAX_INSTANT, Math.max(MIN_INSTANT, ms))).toISOString();
}

/** One 400-year Gregorian cycle: Date.UTC reads years 0–99 as 1900–1999, so years are shifted by a cycle. */
const GREGORIAN_CYCLE_MS = 146097 * 86_400_000;

/** Date.UTC for every year from 0 (month and day may overflow, as with Date.UTC). */
function utc(y: number, mo: number, d: number, h = 0, mi = 0, s = 0, ms = 0): number {
  return Date.UTC(y + 400, mo, d, h, mi, s, ms) - GREGORIAN_CYCLE_MS;
}

const DATE_TIME = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

/** Offset in minutes of `zone` at the given UTC time (positive east of UTC). */
function zoneOffsetMinutes(zone: string, utcMillis: number): number {
  if (zone === 'UTC') return 0;
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone: zone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  }).formatToParts(new Date(utcMillis));
  const get = (t: string) => Number(parts.find((p) => p.type === t)?.value);
  const asUtc = utc(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
  return Math.round((asUtc - Math.floor(utcMillis / 1000) * 1000) / 60000);
}

/** Local wall-clock fields in `zone` → UTC millis. */
function localToUtc(zone: string, y: number, mo: number, d: number, h = 0, mi = 0, s = 0, ms = 0): number {
  const guess = utc(y, mo, d, h, mi, s, ms);
  const offset = zoneOffsetMinutes(zone, guess);
  const first = guess - offset * 60000;
  const offset2 = zoneOffsetMinutes(zone, first);
  return guess - offset2 * 60000;
}

export function parseDateRange(value: string, timeZone: string, name = 'date'): InstantRange {
  const m = DATE_TIME.exec(value);
  if (!m) throw badRequest(`Invalid ${name} '${value}': expected a FHIR date, dateTime or instant (e.g. 2024-03-01T10:00:00Z)`, name);
  const [, ys, mos, ds, hs, mis, ss, fs, tz] = m;
  const y = Number(ys);
  const mo = mos ? Number(mos) - 1 : 0;
  const d = ds ? Number(ds) : 1;
  if (mo > 11 || d < 1 || d > new Date(utc(y, mo + 1, 0)).getUTCDate()) throw badRequest(`Invalid ${name} '${value}': no such date`, name);
  if (hs !== undefined && (Number(hs) > 23 || Number(mis) > 59 || (ss !== undefined && Number(ss) > 59))) {
    throw badRequest(`Invalid ${name} '${value}': no such time`, name);
  }
  const fracDigits = fs ?? '';
  const ms = fracDigits ? Number(fracDigits.slice(0, 3).padEnd(3, '0')) : 0;
  const toUtc = (yy: number, mm: number, dd: number, h = 0, mi = 0, s = 0, msec = 0): number => {
    if (hs !== undefined && tz) {
      const sign = tz === 'Z' ? 0 : tz[0] === '+' ? 1 : -1;
      const off = tz === 'Z' ? 0 : sign * (Number(tz.slice(1, 3)) * 60 + Number(tz.slice(4, 6)));
      return utc(yy, mm, dd, h, mi, s, msec) - off * 60000;
    }
    return localToUtc(timeZone, yy, mm, dd, h, mi, s, msec);
  };
  let low: number;
  let high: number;
  if (!mos) {
    low = toUtc(y, 0, 1);
    high = toUtc(y + 1, 0, 1);
  } else if (!ds) {
    low = toUtc(y, mo, 1);
    high = toUtc(y, mo + 1, 1);
  } else if (hs === undefined) {
    low = toUtc(y, mo, d);
    high = toUtc(y, mo, d + 1);
  } else {
    const h = Number(hs);
    const mi = Number(mis);
    if (ss === undefined) {
      low = toUtc(y, mo, d, h, mi);
      high = low + 60000;
    } else if (!fracDigits) {
      low = toUtc(y, mo, d, h, mi, Number(ss));
      high = low + 1000;
    } else {
      low = toUtc(y, mo, d, h, mi, Number(ss), ms);
      high = low + Math.max(1, 10 ** (3 - Math.min(3, fracDigits.length)));
    }
  }
  return { low: instantText(low), high: instantText(high) };
}
