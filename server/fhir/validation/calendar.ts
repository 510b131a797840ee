/**
 * Calendar validity of date, dateTime and instant values: the spec patterns accept `2023-02-30`, but
 * datatypes.html#date requires "a date, or partial date … as used in human communication", i.e. a real day.
 * https://hl7.org/fhir/R4/datatypes.html#date
 */

function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** For a value that already matched its lexical pattern: is its day (if any) a day of its month? */
export function isValidCalendarDate(value: string): boolean {
  // YYYY-MM-DD…; shorter (partial) dates have no day to check.
  if (value.length < 10) return true;
  const year = Number(value.slice(0, 4));
  const month = Number(value.slice(5, 7));
  const day = Number(value.slice(8, 10));
  const max = month === 2 && isLeapYear(year) ? 29 : DAYS_IN_MONTH[month - 1];
  return day <= max;
}
