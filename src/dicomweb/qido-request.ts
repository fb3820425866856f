// A QIDO-RS request's query (PS3.18 8.3.4, 10.6.1.2) read into conditions and return attributes.
// A parameter that is neither a QIDO-RS parameter nor a DICOM attribute, or a value its attribute
// cannot take, is a 400. A DICOM attribute the target level cannot match is ignored, as PS3.18
// asks of unsupported query parameters, and named in a Warning header.
import { badRequest } from '../http/errors.ts';
import { attributeNamed, DEPTH, levelOfTag, type Attribute, type QueryLevel } from './qido-attributes.ts';
import {
  columnCondition, containmentCondition, describeKey, isMatchableVR, listValues, teethCondition, type SqlCondition,
} from './qido-matching.ts';
import { MODEL, TEETH } from './qido-model.ts';

/** The resource searched: its level, and the study and series its path names. */
export interface QidoTarget {
  level: QueryLevel;
  study?: string;
  series?: string;
}

export interface QidoSearch {
  target: QidoTarget;
  conditions: SqlCondition[];
  /** Attributes returned beyond the defaults, by the level they belong to (match keys and includefield). */
  include: Record<QueryLevel, Set<string>>;
  /** includefield=all: every attribute of the target level. */
  includeAll: boolean;
  limit?: number;
  offset: number;
  /** Warning header texts (after "299 {service}: "). */
  warnings: string[];
}

const BOOLEAN_PARAMETERS = ['fuzzymatching', 'emptyvaluematching', 'multiplevaluematching'] as const;
const UINT_PARAMETERS = ['limit', 'offset'] as const;
const PARAMETERS = new Set<string>([...BOOLEAN_PARAMETERS, ...UINT_PARAMETERS, 'includefield']);

function booleanParameter(name: string, value: string): boolean {
  if (/^true$/i.test(value)) return true;
  if (/^false$/i.test(value)) return false;
  throw badRequest(`${name} must be true or false, not "${value}"`);
}

function uintParameter(name: string, value: string): number {
  if (!/^\d{1,9}$/.test(value)) throw badRequest(`${name} must be an unsigned integer, not "${value}"`);
  return Number(value);
}

/** An attribute path: tags or keywords joined by '.', the last one the attribute matched or returned. */
function attributePath(name: string, parameter: string): Attribute[] {
  return name.split('.').map((part) => {
    const found = attributeNamed(part);
    if (!found) throw badRequest(`"${parameter}" is neither a QIDO-RS parameter nor a DICOM attribute (a tag of 8 hex digits or a PS3.6 keyword)`);
    return found;
  });
}

export function readSearch(target: QidoTarget, query: URLSearchParams): QidoSearch {
  const search: QidoSearch = {
    target, conditions: [], include: { study: new Set(), series: new Set(), instance: new Set() }, includeAll: false, offset: 0, warnings: [],
  };
  const controls = new Map<string, string>();
  const matches: [string, string][] = [];
  for (const [name, value] of query) {
    const parameter = name.toLowerCase();
    if (parameter === 'includefield') {
      readIncludeField(search, value);
    } else if (PARAMETERS.has(parameter)) {
      if (controls.has(parameter)) throw badRequest(`${parameter} may be given once`);
      controls.set(parameter, value);
    } else {
      matches.push([name, value]);
    }
  }

  const flag = (name: (typeof BOOLEAN_PARAMETERS)[number]) => controls.has(name) && booleanParameter(name, controls.get(name)!);
  const fuzzy = flag('fuzzymatching');
  if (flag('emptyvaluematching')) search.warnings.push('The emptyvaluematching parameter is not supported. Only non-empty values have been matched.');
  if (flag('multiplevaluematching')) search.warnings.push('The multiplevaluematching parameter is not supported. Only single values have been matched.');
  if (controls.has('limit')) search.limit = uintParameter('limit', controls.get('limit')!);
  if (controls.has('offset')) search.offset = uintParameter('offset', controls.get('offset')!);

  readMatches(search, matches, fuzzy);
  return search;
}

function readIncludeField(search: QidoSearch, value: string): void {
  for (const item of value.split(',').map((part) => part.trim()).filter(Boolean)) {
    if (item.toLowerCase() === 'all') {
      search.includeAll = true;
      continue;
    }
    const [top] = attributePath(item, `includefield=${item}`) as [Attribute];
    const level = levelOfTag(top.tag);
    // PS3.18 10.6.3.3: attributes of a lower level than the one searched are not returned.
    if (DEPTH[level] <= DEPTH[search.target.level]) search.include[level].add(top.tag);
  }
}

function readMatches(search: QidoSearch, matches: [string, string][], fuzzy: boolean): void {
  const seen = new Set<string>();
  const ignored: string[] = [];
  const teeth: { codes?: string[]; schemes?: string[] } = {};
  for (const [name, value] of matches) {
    const path = attributePath(name, name);
    const key = describeKey(path);
    const pathTags = path.map((part) => part.tag).join('.');
    if (seen.has(pathTags)) throw badRequest(`${key} may be given once`);
    seen.add(pathTags);
    const [top] = path as [Attribute];
    const level = levelOfTag(top.tag);
    const targetDepth = DEPTH[search.target.level];

    if (top.tag === TEETH.sequence && path.length === 2 && [TEETH.codeValue, TEETH.codingScheme].includes(path[1]!.tag)) {
      if (value !== '') teeth[path[1]!.tag === TEETH.codeValue ? 'codes' : 'schemes'] = listValues(value, key);
      if (DEPTH[level] <= targetDepth) search.include[level].add(top.tag);
      continue;
    }
    if (DEPTH[level] > targetDepth) {
      ignored.push(key);
      continue;
    }
    search.include[level].add(top.tag);
    const model = MODEL[level];
    const matcher = path.length === 1 ? model.matchers.get(top.tag) : undefined;
    let condition: SqlCondition | undefined;
    if (matcher) {
      condition = columnCondition(matcher, value, key, top.vr, fuzzy);
    } else if (value === '' || value === '*') {
      continue; // universal matching: returned, not matched
    } else if (path.length === 1 && model.computed.some((computed) => computed.tag === top.tag)) {
      ignored.push(key);
    } else if (path.at(-1)!.vr === 'SQ') {
      throw badRequest(`${key}: a sequence is matched by the attributes of its items, e.g. ${top.tag}.00080100=...`);
    } else if (!isMatchableVR(path.at(-1)!.vr)) {
      ignored.push(key);
    } else {
      condition = containmentCondition(level, path, value, key);
    }
    if (condition) search.conditions.push(condition);
  }
  if (teeth.codes || teeth.schemes) search.conditions.push(teethCondition(search.target.level, teeth.codes, teeth.schemes));
  if (ignored.length > 0) {
    search.warnings.push(`The following attributes are not supported as matching keys at the ${search.target.level} level and were ignored: ${ignored.join(', ')}`);
  }
}
