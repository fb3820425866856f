// Values as QIDO-RS compares them (PS3.4 C.2.2.2): dates, times and datetimes as sortable keys so
// that range matching is a string comparison in SQL, wildcards as LIKE patterns, and person names
// folded for fuzzy matching. Ingest stores the same keys, so both sides agree.

/** A range over sortable keys; an open end is absent. */
export interface KeyRange {
  from?: string;
  to?: string;
}

const DATE = /^(\d{4})(\d{2})(\d{2})$/;
const TIME = /^(\d{2})(\d{2})?(\d{2})?(?:\.(\d{1,6}))?$/;
const DATETIME = /^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.(\d{1,6}))?([+-]\d{4})?$/;

function validDate(year: string, month: string, day: string): boolean {
  const date = new Date(Date.UTC(Number(year), Number(month) - 1, Number(day)));
  return date.getUTCFullYear() === Number(year) && date.getUTCMonth() === Number(month) - 1 && date.getUTCDate() === Number(day);
}

/** A DA value (YYYYMMDD) as YYYYMMDD when it is a calendar date. */
export function dateKey(value: string): string | undefined {
  const match = DATE.exec(value.trim());
  return match && validDate(match[1]!, match[2]!, match[3]!) ? match[0] : undefined;
}

/**
 * A TM value as HHMMSS.FFFFFF, its missing parts filled as the start (or, for the upper end of a
 * range, the end) of the period it names: "10" is 10:00:00.000000 to 10:59:59.999999. ACR-NEMA
 * colons ("10:15") are accepted.
 */
export function timeKey(value: string, end: 'start' | 'end' = 'start'): string | undefined {
  const match = TIME.exec(value.trim().replace(/:/g, ''));
  if (!match) return undefined;
  const [, hours, minutes, seconds, fraction] = match;
  if (Number(hours) > 23 || Number(minutes ?? 0) > 59 || Number(seconds ?? 0) > 60) return undefined;
  const fill = end === 'start' ? { minutes: '00', seconds: '00', fraction: '0' } : { minutes: '59', seconds: '59', fraction: '9' };
  return `${hours}${minutes ?? fill.minutes}${seconds ?? fill.seconds}.${(fraction ?? '').padEnd(6, fill.fraction)}`;
}

/**
 * A DT value as YYYYMMDDHHMMSS.FFFFFF, filled like timeKey. The UTC offset is dropped: datetimes
 * are compared as the local times they were recorded in.
 */
export function dateTimeKey(value: string, end: 'start' | 'end' = 'start'): string | undefined {
  const match = DATETIME.exec(value.trim());
  if (!match) return undefined;
  const [, year, month, day, hours, minutes, seconds, fraction, offset] = match;
  if (month && (Number(month) < 1 || Number(month) > 12)) return undefined;
  if (day && !validDate(year!, month!, day)) return undefined;
  if (Number(hours ?? 0) > 23 || Number(minutes ?? 0) > 59 || Number(seconds ?? 0) > 60) return undefined;
  // PS3.5 Table 6.2-1: offsets run from -1200 to +1400; anything else is not an offset (e.g. "2022-2023" is a range).
  if (offset && (Number(offset.slice(1, 3)) > 14 || Number(offset.slice(3)) > 59)) return undefined;
  const start = end === 'start';
  return `${year}${month ?? (start ? '01' : '12')}${day ?? (start ? '01' : '31')}${hours ?? (start ? '00' : '23')}`
    + `${minutes ?? (start ? '00' : '59')}${seconds ?? (start ? '00' : '59')}.${(fraction ?? '').padEnd(6, start ? '0' : '9')}`;
}

export type RangeKind = 'date' | 'time' | 'datetime';

const KEY_OF: Record<RangeKind, (value: string, end: 'start' | 'end') => string | undefined> = {
  date: (value) => dateKey(value),
  time: timeKey,
  datetime: dateTimeKey,
};

/**
 * A single value or a range ("from-to", "from-", "-to") of DA, TM or DT (PS3.4 C.2.2.2.5) as a key
 * range; a single value is the range of the period it names. Undefined when it is not one.
 */
export function parseRange(kind: RangeKind, value: string): KeyRange | undefined {
  const keyOf = KEY_OF[kind];
  // A DT may end with a negative UTC offset, so a value that is one DT is not split at its '-'.
  const from = keyOf(value, 'start');
  if (from !== undefined) return { from, to: keyOf(value, 'end') };
  const split = kind === 'datetime' ? splitDateTimeRange(value) : value.split('-');
  if (split.length !== 2) return undefined;
  const [low, high] = split as [string, string];
  if (!low && !high) return undefined;
  const range: KeyRange = {};
  if (low) range.from = keyOf(low, 'start');
  if (high) range.to = keyOf(high, 'end');
  return (low && !range.from) || (high && !range.to) ? undefined : range;
}

function splitDateTimeRange(value: string): string[] {
  for (let at = value.indexOf('-'); at >= 0; at = value.indexOf('-', at + 1)) {
    const low = value.slice(0, at);
    const high = value.slice(at + 1);
    if ((!low || dateTimeKey(low)) && (!high || dateTimeKey(high))) return [low, high];
  }
  return [];
}

export const hasWildcard = (value: string) => /[*?]/.test(value);

/** A DICOM wildcard value (* any run, ? one character) as a LIKE pattern; LIKE's own metacharacters are escaped. */
export function likePattern(value: string): string {
  return value.replace(/[\\%_]/g, (char) => `\\${char}`).replace(/\*/g, '%').replace(/\?/g, '_');
}

/** A literal as a LIKE pattern matching itself only. */
export const likeLiteral = (value: string) => value.replace(/[\\%_]/g, (char) => `\\${char}`);

const fold = (text: string) => text.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();

/** The words of a person name (every component of every group), lower case and without accents. */
export function personNameWords(name: string): string[] {
  return fold(name).split(/[\^=\s,.\-]+/u).filter(Boolean);
}

/** What ingest stores for fuzzy matching: the words, each after a space, so "% word%" finds a word's start. */
export function personNameSearchText(name: string | undefined): string | null {
  const words = personNameWords(name ?? '');
  return words.length > 0 ? ` ${words.join(' ')}` : null;
}
