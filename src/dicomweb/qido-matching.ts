// Attribute matching (PS3.4 C.2.2.2) as SQL conditions on the columns qido-model.ts declares:
// single value, UID list, wildcard, range, and sequence matching; a value that cannot be matched
// as its attribute's VR asks is a 400.
import { badRequest } from '../http/errors.ts';
import { isUid } from './params.ts';
import type { Attribute, QueryLevel } from './qido-attributes.ts';
import { MODEL, type Matcher } from './qido-model.ts';
import { hasWildcard, likeLiteral, likePattern, parseRange, personNameWords } from './qido-values.ts';

/** A WHERE condition with its `?` bindings. */
export interface SqlCondition {
  sql: string;
  bindings: unknown[];
}

/** What a key is, for messages: "StudyDate (00080020)". */
export const describeKey = (path: Attribute[]) => path.map((part) => (part.keyword ? `${part.keyword} (${part.tag})` : part.tag)).join('.');

const placeholders = (values: unknown[]) => values.map(() => '?').join(', ');
const isList = (value: string) => /[\\,]/.test(value);

/** The values of a list (UIDs, codes): backslash (PS3.18 8.3.4.1) or comma separated, none empty, no wildcards. */
export function listValues(value: string, key: string): string[] {
  const values = value.split(/[\\,]/).map((part) => part.trim());
  if (values.some((part) => part === '' || hasWildcard(part))) throw badRequest(`${key}: a list of values cannot hold empty values or wildcards ("${value}")`);
  return values;
}

function equalsOrLike(column: string, value: string): SqlCondition {
  return hasWildcard(value) ? { sql: `${column} like ?`, bindings: [likePattern(value)] } : { sql: `${column} = ?`, bindings: [value] };
}

function codeCondition(column: string, value: string, key: string): SqlCondition {
  if (!isList(value)) return equalsOrLike(column, value);
  const codes = listValues(value, key);
  return { sql: `${column} in (${placeholders(codes)})`, bindings: codes };
}

function codeSetCondition(column: string, value: string, key: string): SqlCondition {
  if (isList(value)) {
    const codes = listValues(value, key);
    return { sql: `${column} && array[${placeholders(codes)}]::text[]`, bindings: codes };
  }
  if (hasWildcard(value)) return { sql: `exists (select 1 from unnest(${column}) as code where code like ?)`, bindings: [likePattern(value)] };
  return { sql: `${column} @> array[?]::text[]`, bindings: [value] };
}

/**
 * Person names match case-insensitively. A value without '=' is matched against the whole name
 * and against its first (alphabetic) component group. Fuzzy: every word of the value (wildcards
 * allowed) must begin a word of the name, ignoring case and accents.
 */
function personNameCondition(matcher: Extract<Matcher, { kind: 'person-name' }>, value: string, fuzzy: boolean): SqlCondition {
  if (fuzzy) {
    const words = personNameWords(value);
    return {
      sql: words.map(() => `${matcher.words} like ?`).join(' and ') || 'true',
      bindings: words.map((word) => `% ${likePattern(word)}%`),
    };
  }
  const pattern = (hasWildcard(value) ? likePattern(value) : likeLiteral(value)).toLowerCase();
  const groups = value.includes('=') || pattern.endsWith('%') ? [pattern] : [pattern, `${pattern}=%`];
  return { sql: `(${groups.map(() => `lower(${matcher.column}) like ?`).join(' or ')})`, bindings: groups };
}

function rangeCondition(matcher: Extract<Matcher, { kind: 'range' }>, value: string, key: string, vr: string): SqlCondition {
  const range = parseRange(matcher.range, value);
  if (!range) throw badRequest(`${key}: "${value}" is not a ${vr} value or range of ${vr} values (PS3.4 C.2.2.2.5)`);
  const asColumn = (bound: string) => (matcher.form === 'iso-date' ? `${bound.slice(0, 4)}-${bound.slice(4, 6)}-${bound.slice(6, 8)}` : bound);
  const parts: SqlCondition[] = [];
  if (range.from) parts.push({ sql: `${matcher.column} >= ?`, bindings: [asColumn(range.from)] });
  if (range.to) parts.push({ sql: `${matcher.column} <= ?`, bindings: [asColumn(range.to)] });
  return { sql: parts.map((part) => part.sql).join(' and '), bindings: parts.flatMap((part) => part.bindings) };
}

/** The condition of a matching key with a declared column; undefined for universal matching (empty, or "*"). */
export function columnCondition(matcher: Matcher, value: string, key: string, vr: string, fuzzy: boolean): SqlCondition | undefined {
  if (value === '' || value === '*') return undefined;
  switch (matcher.kind) {
    case 'uid': {
      const uids = value.split(/[\\,]/).map((part) => part.trim());
      const invalid = uids.find((uid) => !isUid(uid));
      if (invalid !== undefined) throw badRequest(`${key}: "${invalid}" is not a UID (UID list matching takes no wildcards)`);
      return uids.length === 1 ? { sql: `${matcher.column} = ?`, bindings: uids } : { sql: `${matcher.column} in (${placeholders(uids)})`, bindings: uids };
    }
    case 'text':
      return equalsOrLike(matcher.column, value);
    case 'code':
      return codeCondition(matcher.column, value, key);
    case 'code-set':
      return codeSetCondition(matcher.column, value, key);
    case 'person-name':
      return personNameCondition(matcher, value, fuzzy);
    case 'range':
      return rangeCondition(matcher, value, key, vr);
    case 'integer': {
      if (!/^[+-]?\d{1,9}$/.test(value.trim())) throw badRequest(`${key}: "${value}" is not an integer (single value matching only)`);
      return { sql: `${matcher.column} = ?`, bindings: [Number(value.trim())] };
    }
  }
}

const NUMERIC_VRS = new Set(['IS', 'DS', 'US', 'SS', 'UL', 'SL', 'FL', 'FD', 'SV', 'UV']);
const STRING_VRS = new Set(['AE', 'AS', 'CS', 'DA', 'DT', 'LO', 'LT', 'SH', 'ST', 'TM', 'UC', 'UI', 'UR', 'UT', 'PN', ...NUMERIC_VRS]);

/** A VR that single value matching can compare, by its DICOM JSON value. */
export const isMatchableVR = (vr: string) => STRING_VRS.has(vr);

/**
 * Single value matching on an attribute without a column of its own, or a sequence matching key
 * (PS3.4 C.2.2.2.6): the level's stored DICOM JSON must contain the value, exactly (case-sensitive).
 * At the study and series levels a GIN index serves it; at the instance level it reads dicom_json.
 */
export function containmentCondition(level: QueryLevel, path: Attribute[], value: string, key: string): SqlCondition | undefined {
  if (value === '' || value === '*') return undefined;
  if (hasWildcard(value) || (/^\d*-\d*$/.test(value) && /^(DA|TM|DT)$/.test(path.at(-1)!.vr))) {
    throw badRequest(`${key}: only single value matching is supported on this attribute ("${value}")`);
  }
  const leaf = path.at(-1)!;
  let jsonValue: unknown = value;
  if (NUMERIC_VRS.has(leaf.vr)) {
    jsonValue = Number(value);
    if (value.trim() === '' || !Number.isFinite(jsonValue)) throw badRequest(`${key}: "${value}" is not a number`);
  } else if (leaf.vr === 'PN') {
    jsonValue = { Alphabetic: value };
  }
  let document: unknown = { [leaf.tag]: { Value: [jsonValue] } };
  for (const parent of path.slice(0, -1).reverse()) document = { [parent.tag]: { Value: [document] } };
  return { sql: `${MODEL[level].attributes} @> ?::jsonb`, bindings: [JSON.stringify(document)] };
}

/**
 * Teeth: Primary Anatomic Structure Sequence items by Code Value and/or Coding Scheme Designator,
 * each a single value or a list, matched through imaging_object_teeth for any stored instance of
 * the returned study, series or instance.
 */
export function teethCondition(level: QueryLevel, codes: string[] | undefined, schemes: string[] | undefined): SqlCondition {
  const owner = { study: 'ot.study_id = st.id', series: 'ot.series_id = se.id', instance: 'ot.id = o.id' }[level];
  const code = codes ? ` and t.tooth_code in (${placeholders(codes)})` : '';
  const scheme = schemes ? ` and t.code_system in (${placeholders(schemes)})` : '';
  return {
    sql: `exists (select 1 from imaging_object_teeth t join imaging_objects ot on ot.tenant_id = t.tenant_id and ot.id = t.object_id
      where t.tenant_id = ${MODEL[level].alias}.tenant_id and ${owner} and ot.status = 'CREATED'${code}${scheme})`,
    bindings: [...(codes ?? []), ...(schemes ?? [])],
  };
}

