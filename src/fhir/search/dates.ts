// The implicit UTC range of a FHIR date/dateTime/instant at its precision (https://hl7.org/fhir/R4/search.html#date).
import type { DateRange } from './types.ts';

/** A date that is malformed or impossible (month 13, 30 February). */
export class InvalidDateError extends RangeError {
  constructor(text: string, why: string) {
    super(`"${text}" is not a valid date: ${why}`);
    this.name = 'InvalidDateError';
  }
}

// YYYY[-MM[-DD[Thh:mm[:ss[.fraction]][Z|±hh:mm]]]]. Minutes precision is not a FHIR dateTime but
// search allows it; the time zone may only follow a time (datatypes.html#dateTime).
const DATE_TIME =
  /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

const MILLISECONDS_PER_MINUTE = 60_000;
const MILLISECONDS_PER_DAY = 86_400_000;

/**
 * The range [start of the value at its precision, start of the next unit), in UTC.
 * 2024 → [2024-01-01T00:00:00.000Z, 2025-01-01T00:00:00.000Z); 2024-02 → one month; a day, minute,
 * second → that unit; a fraction of n digits → 10^-n s (digits beyond milliseconds are truncated, the
 * range is then the 1 ms that contains the instant).
 * Values without a time zone (dates, and dateTimes with hours but no offset) are taken as UTC.
 * Throws InvalidDateError for malformed or impossible values.
 */
export function parseDateRange(text: string): DateRange {
  const match = DATE_TIME.exec(text);
  if (!match) throw new InvalidDateError(text, 'expected YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm[:ss[.sss]][Z|±hh:mm]');
  const [, yearText, monthText, dayText, hourText, minuteText, secondText, fractionText, zoneText] = match;

  const year = checkedField(text, 'year', yearText, 1, 9999);
  if (monthText === undefined) return rangeOf(utcMillis(year, 0, 1), utcMillis(year + 1, 0, 1));

  const month = checkedField(text, 'month', monthText, 1, 12);
  if (dayText === undefined) return rangeOf(utcMillis(year, month - 1, 1), utcMillis(year, month, 1));

  const day = checkedField(text, 'day', dayText, 1, daysInMonth(year, month));
  const midnight = utcMillis(year, month - 1, day);
  if (hourText === undefined) return rangeOf(midnight, midnight + MILLISECONDS_PER_DAY);

  const hour = checkedField(text, 'hour', hourText, 0, 23);
  const minute = checkedField(text, 'minute', minuteText, 0, 59);
  const second = secondText === undefined ? 0 : checkedField(text, 'second', secondText, 0, 59);
  const milliseconds = fractionText === undefined ? 0 : Number(fractionText.slice(0, 3).padEnd(3, '0'));
  const offsetMinutes = zoneText === undefined ? 0 : zoneOffsetMinutes(text, zoneText);

  const start = midnight + ((hour * 60 + minute - offsetMinutes) * 60 + second) * 1000 + milliseconds;
  return rangeOf(start, start + timeUnitMillis(secondText, fractionText));
}

/** The length of the last unit written: minute, second, or a decimal fraction of a second. */
function timeUnitMillis(secondText: string | undefined, fractionText: string | undefined): number {
  if (secondText === undefined) return MILLISECONDS_PER_MINUTE;
  if (fractionText === undefined) return 1000;
  return 10 ** Math.max(0, 3 - fractionText.length);
}

function checkedField(text: string, field: string, digits: string | undefined, min: number, max: number): number {
  const value = Number(digits);
  if (digits === undefined || value < min || value > max) {
    throw new InvalidDateError(text, `${field} must be between ${min} and ${max}`);
  }
  return value;
}

/** Offsets run from -14:00 to +14:00 (datatypes.html#dateTime). */
function zoneOffsetMinutes(text: string, zone: string): number {
  if (zone === 'Z') return 0;
  const sign = zone.startsWith('-') ? -1 : 1;
  const hours = Number(zone.slice(1, 3));
  const minutes = Number(zone.slice(4, 6));
  if (minutes > 59 || hours * 60 + minutes > 14 * 60) {
    throw new InvalidDateError(text, 'time zone offset must be between -14:00 and +14:00');
  }
  return sign * (hours * 60 + minutes);
}

function daysInMonth(year: number, month: number): number {
  return new Date(utcMillis(year, month, 1) - MILLISECONDS_PER_DAY).getUTCDate();
}

/** Milliseconds since the epoch; setUTCFullYear because Date.UTC maps years 0–99 to 1900–1999. Month overflow rolls over. */
function utcMillis(year: number, monthIndex: number, day: number): number {
  const date = new Date(0);
  date.setUTCFullYear(year, monthIndex, day);
  return date.getTime();
}

function rangeOf(start: number, end: number): DateRange {
  return { start: formatInstant(start), end: formatInstant(end) };
}

/** toISOString, but year 10000 (the end of 9999) as plain "10000-…" rather than the expanded "+010000-…". */
function formatInstant(milliseconds: number): string {
  return new Date(milliseconds).toISOString().replace(/^\+0*(\d{5,})/, '$1');
}
