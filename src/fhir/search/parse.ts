// Parses a FHIR search query into a typed, validated ParsedSearch, without SQL (https://hl7.org/fhir/R4/search.html).
import { InvalidDateError, parseDateRange } from './dates.ts';
import {
  SearchError,
  type HasCriterion,
  type IncludeSpec,
  type ParamRegistry,
  type ParsedSearch,
  type Prefix,
  type SearchCriterion,
  type SearchParamDefinition,
  type SearchParamType,
  type SearchValue,
  type SortKey,
} from './types.ts';

/** Thrown inside the parser for a parameter it does not understand; the caller's loop reports it in `unknown`. */
class NotUnderstood extends Error {}

/** What every parser of one query parameter needs: the registry and the parameter as written (for errors). */
interface ParameterContext {
  registry: ParamRegistry;
  key: string;
}

interface NameSegment {
  name: string;
  modifier?: string;
}

const RESOURCE_TYPE = /^[A-Z][A-Za-z]+$/;
const RESOURCE_ID = /^[A-Za-z0-9\-.]{1,64}$/; // datatypes.html#id
const ABSOLUTE_URI = /^[A-Za-z][A-Za-z0-9+.\-]*:/;
const DECIMAL = /^([+-]?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/;
const PREFIXED = /^(eq|ne|gt|lt|ge|le|sa|eb|ap)(.*)$/s;
const ELEMENT_NAME = /^[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)*$/;

/** Modifiers supported per parameter type, besides :missing (all types) and :[type] (reference). */
const SUPPORTED_MODIFIERS: Record<SearchParamType, readonly string[]> = {
  string: ['exact', 'contains'],
  token: ['not', 'text', 'of-type'],
  date: [],
  number: [],
  quantity: [],
  reference: ['identifier'],
  uri: [],
  special: [],
};

const HAS_DEFINITION: SearchParamDefinition = { name: '_has', type: 'special' };

export function parseSearch(
  resourceType: string,
  query: URLSearchParams,
  registry: ParamRegistry,
  options: { maxCount?: number } = {},
): ParsedSearch {
  if (registry(resourceType) === undefined) throw new SearchError(`Resource type ${resourceType} is not searchable`);
  const search: ParsedSearch = { resourceType, criteria: [], has: [], sort: [], include: [], revinclude: [], unknown: [] };
  for (const [key, value] of query) {
    // "Parameters that are empty SHALL be ignored" (search.html#errors): `name=` leaves no trace at all.
    if (value === '') continue;
    const context: ParameterContext = { registry, key };
    try {
      applyParameter(search, context, value, options);
    } catch (error) {
      if (!(error instanceof NotUnderstood)) throw error;
      search.unknown.push({ name: key, reason: error.message });
    }
  }
  return search;
}

function applyParameter(search: ParsedSearch, context: ParameterContext, value: string, options: { maxCount?: number }): void {
  const [baseName = '', ...modifiers] = context.key.split(':');
  const modifier = modifiers.join(':') || undefined;
  if (baseName === '_has') {
    search.has.push(parseHas(context, search.resourceType, modifier, value));
    return;
  }
  if (isResultParameter(baseName)) {
    applyResultParameter(search, context, baseName, modifier, value, options);
    return;
  }
  search.criteria.push(buildCriterion(context, search.resourceType, splitParameterName(context.key), value));
}

// ---------------------------------------------------------------------------------------------
// Parameter names: name[:modifier][.name[:modifier]...] (search.html#chaining)

function splitParameterName(text: string): NameSegment[] {
  return text.split('.').map((segment) => {
    const [name = '', modifier, ...extra] = segment.split(':');
    if (name === '') throw new NotUnderstood('the parameter name is empty');
    if (extra.length > 0) throw new NotUnderstood(`"${segment}" has more than one modifier`);
    return modifier === undefined ? { name } : { name, modifier };
  });
}

function lookUpParameter(context: ParameterContext, resourceType: string, name: string): SearchParamDefinition {
  const parameters = context.registry(resourceType);
  if (parameters === undefined) throw new NotUnderstood(`resource type ${resourceType} is not searchable`);
  const definition = parameters.get(name);
  if (definition === undefined) throw new NotUnderstood(`${resourceType} has no search parameter "${name}"`);
  return definition;
}

/** One criterion for `segments` (the first names a parameter of resourceType; any others chain on from it). */
function buildCriterion(context: ParameterContext, resourceType: string, segments: NameSegment[], value: string): SearchCriterion {
  const [segment, ...chained] = segments;
  if (segment === undefined) throw new NotUnderstood('the parameter name is empty');
  const definition = lookUpParameter(context, resourceType, segment.name);
  if (chained.length > 0) return buildChainedCriterion(context, definition, segment, chained, value);
  return compact<SearchCriterion>({
    name: segment.name,
    definition,
    modifier: segment.modifier,
    values: parseValues(context, definition, segment.modifier, value),
  });
}

function buildChainedCriterion(
  context: ParameterContext,
  definition: SearchParamDefinition,
  segment: NameSegment,
  chained: NameSegment[],
  value: string,
): SearchCriterion {
  if (definition.type !== 'reference') {
    throw new SearchError(`"${segment.name}" is a ${definition.type} parameter; only reference parameters can be chained`, context.key);
  }
  const targetType = chainTargetType(context, definition, segment.modifier);
  const next = buildCriterion(context, targetType, chained, value);
  return compact<SearchCriterion>({
    name: segment.name,
    definition,
    modifier: segment.modifier,
    values: [],
    chain: { parameter: next.name, targetType, next },
  });
}

/** The type a chain step goes through: the :Type modifier, or the only target (search.html#chaining). */
function chainTargetType(context: ParameterContext, definition: SearchParamDefinition, modifier: string | undefined): string {
  if (modifier !== undefined) {
    if (!RESOURCE_TYPE.test(modifier)) throw new NotUnderstood(`modifier ":${modifier}" cannot be followed by a chain; only a resource type can`);
    return checkedTargetType(context, definition, modifier);
  }
  const targets = definition.targets ?? [];
  if (targets.length === 1 && targets[0] !== undefined) return targets[0];
  const example = targets[0] ?? 'Patient';
  throw new SearchError(
    `"${definition.name}" can refer to ${targets.length > 0 ? targets.join(', ') : 'any resource type'}; ` +
      `name the type to chain through, e.g. ${definition.name}:${example}.…`,
    context.key,
  );
}

/** A resource type given as a :Type modifier must be one the reference parameter can point to. */
function checkedTargetType(context: ParameterContext, definition: SearchParamDefinition, type: string): string {
  const allowed = definition.targets ? definition.targets.includes(type) : context.registry(type) !== undefined;
  if (!allowed) {
    const targets = definition.targets?.join(', ') ?? 'known resource types';
    throw new SearchError(`"${definition.name}" cannot refer to ${type} (it refers to ${targets})`, context.key);
  }
  return type;
}

// ---------------------------------------------------------------------------------------------
// _has (search.html#has): _has:Type:referenceParam:param=value, where param may be another _has.

function parseHas(context: ParameterContext, referencedType: string, rest: string | undefined, value: string): HasCriterion {
  const [targetType = '', referenceParam = '', ...innerParts] = (rest ?? '').split(':');
  const innerName = innerParts.join(':');
  if (!RESOURCE_TYPE.test(targetType) || referenceParam === '' || innerName === '') {
    throw new SearchError('_has needs the form _has:[type]:[reference parameter]:[parameter]', context.key);
  }
  const reference = lookUpParameter(context, targetType, referenceParam);
  if (reference.type !== 'reference') {
    throw new SearchError(`_has needs a reference parameter, but ${targetType} "${referenceParam}" is a ${reference.type} parameter`, context.key);
  }
  if (reference.targets !== undefined && !reference.targets.includes(referencedType)) {
    throw new SearchError(`${targetType} "${referenceParam}" cannot refer to ${referencedType}`, context.key);
  }
  const criterion = innerName.startsWith('_has:')
    ? nestedHasCriterion(parseHas(context, targetType, innerName.slice('_has:'.length), value))
    : buildCriterion(context, targetType, splitParameterName(innerName), value);
  return { targetType, referenceParam, criterion };
}

function nestedHasCriterion(has: HasCriterion): SearchCriterion {
  return { name: '_has', definition: HAS_DEFINITION, values: [], has };
}

// ---------------------------------------------------------------------------------------------
// Values: comma = OR; \, \| \$ \\ escape the character (search.html#escaping).

function parseValues(context: ParameterContext, definition: SearchParamDefinition, modifier: string | undefined, text: string): SearchValue[] {
  if (definition.type === 'special') throw new NotUnderstood(`special parameter "${definition.name}" is not supported`);
  if (modifier === 'missing') return [parseMissing(context, text)];
  checkModifier(context, definition, modifier);
  return splitUnescaped(text, ',').map((item) => {
    if (item === '') throw new SearchError(`"${text}" has an empty value between commas`, context.key);
    return parseValue(context, definition, modifier, item);
  });
}

function checkModifier(context: ParameterContext, definition: SearchParamDefinition, modifier: string | undefined): void {
  if (modifier === undefined || SUPPORTED_MODIFIERS[definition.type].includes(modifier)) return;
  if (definition.type === 'reference' && RESOURCE_TYPE.test(modifier)) {
    checkedTargetType(context, definition, modifier);
    return;
  }
  throw new NotUnderstood(`modifier ":${modifier}" is not supported for ${definition.type} parameters`);
}

/** :missing=true|false applies to every type (search.html#modifiers). */
function parseMissing(context: ParameterContext, text: string): SearchValue {
  if (text !== 'true' && text !== 'false') throw new SearchError(`:missing takes true or false, not "${text}"`, context.key);
  return { type: 'missing', missing: text === 'true' };
}

/** One OR'ed value, still escaped. */
function parseValue(context: ParameterContext, definition: SearchParamDefinition, modifier: string | undefined, item: string): SearchValue {
  switch (definition.type) {
    case 'string':
      return { type: 'string', value: unescapeValue(item) };
    case 'uri':
      return { type: 'uri', value: unescapeValue(item) };
    case 'token':
      return parseTokenValue(context, modifier, item);
    case 'date':
      return parseDateValue(context, unescapeValue(item));
    case 'number':
      return parseNumberValue(context, unescapeValue(item));
    case 'quantity':
      return parseQuantityValue(context, item);
    case 'reference':
      return modifier === 'identifier' ? parseIdentifierValue(context, item) : parseReferenceValue(context, definition, modifier, item);
    case 'special':
      throw new NotUnderstood(`special parameter "${definition.name}" is not supported`);
  }
}

/** Splits on `separator` where it is not escaped by a backslash; the pieces keep their escapes. */
function splitUnescaped(text: string, separator: string): string[] {
  const pieces: string[] = [];
  let current = '';
  for (let index = 0; index < text.length; index++) {
    const character = text.charAt(index);
    if (character === '\\' && index + 1 < text.length) {
      current += character + text.charAt(++index);
    } else if (character === separator) {
      pieces.push(current);
      current = '';
    } else {
      current += character;
    }
  }
  pieces.push(current);
  return pieces;
}

/** Resolves \, \| \$ \\ to the literal character; any other backslash is kept as written. */
function unescapeValue(text: string): string {
  return text.replace(/\\([,|$\\])/g, '$1');
}

// ---------------------------------------------------------------------------------------------
// token (search.html#token): code | system|code | |code | system| ; :text, :of-type

function parseTokenValue(context: ParameterContext, modifier: string | undefined, item: string): SearchValue {
  // :text searches the display text, so the value is a string, not a system|code pair.
  if (modifier === 'text') return { type: 'string', value: unescapeValue(item) };
  const parts = splitUnescaped(item, '|').map(unescapeValue);
  if (modifier === 'of-type') return parseOfTypeValue(context, parts);
  const [first = '', second, ...extra] = parts;
  if (extra.length > 0) throw new SearchError(`token "${item}" has more than one unescaped "|"`, context.key);
  if (second === undefined) return { type: 'token', code: first };
  if (first === '' && second === '') throw new SearchError('token "|" needs a system or a code', context.key);
  return compact<SearchValue>({ type: 'token', system: first, code: second || undefined });
}

/** "All three parts must be present": [type system]|[type code]|[identifier value]. */
function parseOfTypeValue(context: ParameterContext, parts: string[]): SearchValue {
  const [system, code, value, ...extra] = parts;
  if (!system || !code || !value || extra.length > 0) {
    throw new SearchError(':of-type takes [system]|[code]|[value], all three present', context.key);
  }
  return { type: 'token', system, code, value };
}

// ---------------------------------------------------------------------------------------------
// date, number, quantity: an optional prefix, then the value (search.html#prefix)

function splitPrefix(text: string): { prefix: Prefix; rest: string } {
  const match = PREFIXED.exec(text);
  if (match?.[1] !== undefined && match[2] !== undefined) return { prefix: match[1] as Prefix, rest: match[2] };
  return { prefix: 'eq', rest: text };
}

function parseDateValue(context: ParameterContext, text: string): SearchValue {
  const { prefix, rest } = splitPrefix(text);
  try {
    return { type: 'date', prefix, range: parseDateRange(restorePlusInOffset(rest)) };
  } catch (error) {
    if (error instanceof InvalidDateError) throw new SearchError(error.message, context.key);
    throw error;
  }
}

/** An unencoded "+" in a query string decodes to a space, so "…T10:00:00 02:00" meant "+02:00". */
function restorePlusInOffset(text: string): string {
  return text.replace(/^(.*T[\d:.]+) (\d{2}:\d{2})$/, '$1+$2');
}

function parseNumberValue(context: ParameterContext, text: string): SearchValue {
  const { prefix, rest } = splitPrefix(text);
  const number = parseDecimal(rest);
  if (number === undefined) throw new SearchError(`"${text}" is not a number`, context.key);
  return { type: 'number', prefix, ...number };
}

/**
 * The value and its implicit range: ± half a unit in the last significant digit as written
 * (search.html#number: 100 → [99.5, 100.5), 100.00 → [99.995, 100.005)). For exponent notation the
 * mantissa's digits are the significant ones, so 1e2 (1 significant figure) → [50, 150).
 * Bounds are computed on exact decimals and only then converted, so they are the closest doubles.
 */
function parseDecimal(text: string): { value: number; range: { low: number; high: number } } | undefined {
  const match = DECIMAL.exec(text);
  if (!match) return undefined;
  const [, sign = '', integerDigits = '', fractionDigits = '', exponent = '0'] = match;
  const mantissa = BigInt(integerDigits + fractionDigits) * (sign === '-' ? -1n : 1n);
  const scale = Number(exponent) - fractionDigits.length; // value = mantissa × 10^scale
  const value = Number(text);
  const low = Number(`${mantissa * 10n - 5n}e${scale - 1}`);
  const high = Number(`${mantissa * 10n + 5n}e${scale - 1}`);
  if (![value, low, high].every(Number.isFinite)) return undefined;
  return { value, range: { low, high } };
}

/** [prefix]number, [prefix]number|system|code, [prefix]number||code (search.html#quantity). */
function parseQuantityValue(context: ParameterContext, item: string): SearchValue {
  const [numberText = '', ...unitParts] = splitUnescaped(item, '|').map(unescapeValue);
  if (unitParts.length !== 0 && unitParts.length !== 2) {
    throw new SearchError(`quantity "${item}" must be number, number|system|code or number||code`, context.key);
  }
  const { prefix, rest } = splitPrefix(numberText);
  const number = parseDecimal(rest);
  if (number === undefined) throw new SearchError(`"${numberText}" is not a number`, context.key);
  const [system = '', code = ''] = unitParts;
  if (system !== '' && code === '') throw new SearchError(`quantity "${item}" has a system but no code`, context.key);
  return compact<SearchValue>({ type: 'quantity', prefix, ...number, system: system || undefined, code: code || undefined });
}

// ---------------------------------------------------------------------------------------------
// reference (search.html#reference): id | Type/id | Type/id/_history/version | absolute URL; :Type, :identifier

function parseReferenceValue(
  context: ParameterContext,
  definition: SearchParamDefinition,
  modifier: string | undefined,
  item: string,
): SearchValue {
  if (splitUnescaped(item, '|').length > 1) {
    throw new SearchError(`reference "${item}": canonical url|version references are not supported`, context.key);
  }
  const text = unescapeValue(item);
  const typeModifier = modifier !== undefined && RESOURCE_TYPE.test(modifier) ? modifier : undefined;
  const reference = ABSOLUTE_URI.test(text) ? parseAbsoluteReference(context, definition, text) : parseRelativeReference(context, text, typeModifier);
  if (typeModifier !== undefined && reference.resourceType !== undefined && reference.resourceType !== typeModifier) {
    throw new SearchError(`reference "${text}" is not a ${typeModifier}, as :${typeModifier} requires`, context.key);
  }
  if (reference.resourceType !== undefined) checkedTargetType(context, definition, reference.resourceType);
  return reference;
}

type ReferenceValue = Extract<SearchValue, { type: 'reference' }>;

function parseRelativeReference(context: ParameterContext, text: string, typeModifier: string | undefined): ReferenceValue {
  const segments = text.split('/');
  if (segments.length === 1) {
    return compact<ReferenceValue>({ type: 'reference', resourceType: typeModifier, id: checkedId(context, text, text) });
  }
  const [resourceType = '', id = '', history, version = ''] = segments;
  const isVersioned = segments.length === 4 && history === '_history';
  if ((segments.length !== 2 && !isVersioned) || !RESOURCE_TYPE.test(resourceType)) {
    throw new SearchError(`reference "${text}" must be [id], [type]/[id] or [type]/[id]/_history/[version]`, context.key);
  }
  const reference: ReferenceValue = { type: 'reference', resourceType, id: checkedId(context, text, id) };
  return isVersioned ? { ...reference, version: checkedId(context, text, version) } : reference;
}

/**
 * The URL as given, plus Type/id[/_history/version] when its path ends so and the type is one the
 * parameter can refer to (other URLs need not be FHIR servers, so their paths are not interpreted).
 */
function parseAbsoluteReference(context: ParameterContext, definition: SearchParamDefinition, text: string): ReferenceValue {
  const reference: ReferenceValue = { type: 'reference', url: text };
  if (!/^https?:/i.test(text) || !URL.canParse(text)) return reference;
  const segments = new URL(text).pathname.split('/').filter((segment) => segment !== '');
  const versioned = segments.length >= 4 && segments.at(-2) === '_history';
  const [resourceType = '', id = '', , version] = versioned ? segments.slice(-4) : segments.slice(-2);
  const isTarget = definition.targets ? definition.targets.includes(resourceType) : context.registry(resourceType) !== undefined;
  if (!RESOURCE_TYPE.test(resourceType) || !RESOURCE_ID.test(id) || !isTarget) return reference;
  return compact<ReferenceValue>({ ...reference, resourceType, id, version });
}

function checkedId(context: ParameterContext, text: string, id: string): string {
  if (!RESOURCE_ID.test(id)) throw new SearchError(`reference "${text}": "${id}" is not a valid id`, context.key);
  return id;
}

/** reference:identifier takes a token on Reference.identifier: value | system|value | |value | system|. */
function parseIdentifierValue(context: ParameterContext, item: string): SearchValue {
  const token = parseTokenValue(context, undefined, item);
  if (token.type !== 'token') throw new SearchError(`"${item}" is not an identifier`, context.key);
  return compact<SearchValue>({ type: 'identifier', system: token.system, value: token.code });
}

// ---------------------------------------------------------------------------------------------
// Result parameters (search.html#return): _sort _count _total _summary _elements _include _revinclude, plus _cursor _format _pretty

const RESULT_PARAMETERS = ['_sort', '_count', '_total', '_summary', '_elements', '_include', '_revinclude', '_cursor', '_format', '_pretty'] as const;
type ResultParameter = (typeof RESULT_PARAMETERS)[number];

function isResultParameter(name: string): name is ResultParameter {
  return (RESULT_PARAMETERS as readonly string[]).includes(name);
}

function applyResultParameter(
  search: ParsedSearch,
  context: ParameterContext,
  name: ResultParameter,
  modifier: string | undefined,
  value: string,
  options: { maxCount?: number },
): void {
  if (name === '_include' || name === '_revinclude') {
    const direction = name === '_include' ? 'include' : 'revinclude';
    search[direction].push(parseInclude(context, search.resourceType, direction, modifier, value));
    return;
  }
  if (modifier !== undefined) throw new NotUnderstood(`${name} takes no modifier`);
  switch (name) {
    case '_sort':
      search.sort.push(...parseSort(context, search, value));
      return;
    case '_elements':
      search.elements = [...(search.elements ?? []), ...parseElements(context, value)];
      return;
    case '_count':
      assertNotRepeated(context, search.count);
      search.count = parseCount(context, value, options.maxCount);
      return;
    case '_total':
      assertNotRepeated(context, search.total);
      search.total = oneOf(context, value, ['none', 'estimate', 'accurate'] as const);
      return;
    case '_summary':
      assertNotRepeated(context, search.summary);
      search.summary = oneOf(context, value, ['true', 'text', 'data', 'count', 'false'] as const);
      return;
    case '_pretty':
      assertNotRepeated(context, search.pretty);
      search.pretty = oneOf(context, value, ['true', 'false'] as const) === 'true';
      return;
    case '_cursor':
      assertNotRepeated(context, search.cursor);
      search.cursor = value;
      return;
    case '_format':
      assertNotRepeated(context, search.format);
      search.format = value;
      return;
  }
}

/** Single-valued result parameters given twice are ambiguous. */
function assertNotRepeated(context: ParameterContext, current: unknown): void {
  if (current !== undefined) throw new SearchError(`${context.key} is given more than once`, context.key);
}

function oneOf<T extends string>(context: ParameterContext, value: string, allowed: readonly T[]): T {
  const found = allowed.find((candidate) => candidate === value);
  if (found === undefined) throw new SearchError(`${context.key} must be one of ${allowed.join(', ')}, not "${value}"`, context.key);
  return found;
}

/** A non-negative integer; above the server's maximum it is silently lowered ("servers MAY return fewer"). */
function parseCount(context: ParameterContext, value: string, maxCount: number | undefined): number {
  if (!/^\d+$/.test(value)) throw new SearchError(`_count must be a non-negative integer, not "${value}"`, context.key);
  const count = maxCount === undefined ? Number(value) : Math.min(Number(value), maxCount);
  if (!Number.isSafeInteger(count)) throw new SearchError(`_count ${value} is too large`, context.key);
  return count;
}

/** _sort=a,-b: comma-separated, "-" for descending; keys this resource cannot sort by are reported one by one. */
function parseSort(context: ParameterContext, search: ParsedSearch, value: string): SortKey[] {
  const parameters = context.registry(search.resourceType);
  const keys: SortKey[] = [];
  for (const item of value.split(',')) {
    const descending = item.startsWith('-');
    const name = descending ? item.slice(1) : item;
    if (name === '') throw new SearchError(`_sort "${value}" has an empty sort key`, context.key);
    const definition = parameters?.get(name);
    if (definition === undefined) {
      search.unknown.push({ name: context.key, reason: `${search.resourceType} has no search parameter "${name}" to sort by` });
    } else {
      keys.push({ name, definition, descending });
    }
  }
  return keys;
}

function parseElements(context: ParameterContext, value: string): string[] {
  return value.split(',').map((element) => {
    if (!ELEMENT_NAME.test(element)) throw new SearchError(`_elements: "${element}" is not an element name`, context.key);
    return element;
  });
}

/**
 * _include=Source:param[:Target], _revinclude likewise, Source:* for every reference parameter, and
 * :iterate to apply it to included resources too (search.html#include). Without :iterate an _include
 * must start from the searched type and a _revinclude must point at it.
 */
function parseInclude(
  context: ParameterContext,
  searchedType: string,
  direction: 'include' | 'revinclude',
  modifier: string | undefined,
  value: string,
): IncludeSpec {
  if (modifier !== undefined && modifier !== 'iterate') throw new NotUnderstood(`_${direction} supports only the :iterate modifier`);
  const iterate = modifier === 'iterate';
  if (value === '*' && direction === 'revinclude') throw new NotUnderstood('_revinclude=* is not supported; name the source type, e.g. Observation:*');
  const [sourceType = '', parameter = '', targetType, ...extra] = value === '*' ? [searchedType, '*'] : value.split(':');
  if (!RESOURCE_TYPE.test(sourceType) || parameter === '' || extra.length > 0 || (targetType !== undefined && !RESOURCE_TYPE.test(targetType))) {
    throw new SearchError(`_${direction} takes [type]:[parameter] or [type]:[parameter]:[target type], not "${value}"`, context.key);
  }
  const wildcard = parameter === '*';
  const targets = wildcard ? undefined : includeTargets(context, sourceType, parameter);
  if (targetType !== undefined && !(targets ? targets.includes(targetType) : context.registry(targetType) !== undefined)) {
    throw new NotUnderstood(`${sourceType}:${parameter} cannot refer to ${targetType}`);
  }
  if (!iterate) checkIncludeStartsFromSearch(searchedType, direction, sourceType, parameter, targets);
  return compact<IncludeSpec>({ sourceType, parameter, targetType, iterate, wildcard: wildcard || undefined });
}

/** The targets of the reference parameter an include follows (undefined = any type). */
function includeTargets(context: ParameterContext, sourceType: string, parameter: string): string[] | undefined {
  const definition = lookUpParameter(context, sourceType, parameter);
  if (definition.type !== 'reference') throw new NotUnderstood(`${sourceType}:${parameter} is a ${definition.type} parameter, not a reference`);
  return definition.targets;
}

function checkIncludeStartsFromSearch(
  searchedType: string,
  direction: 'include' | 'revinclude',
  sourceType: string,
  parameter: string,
  targets: string[] | undefined,
): void {
  if (direction === 'include' && sourceType !== searchedType) {
    throw new NotUnderstood(`_include ${sourceType}:${parameter} does not start from ${searchedType}; use _include:iterate`);
  }
  if (direction === 'revinclude' && targets !== undefined && !targets.includes(searchedType)) {
    throw new NotUnderstood(`_revinclude ${sourceType}:${parameter} cannot refer to ${searchedType}; use _revinclude:iterate`);
  }
}

// ---------------------------------------------------------------------------------------------

/** Drops keys whose value is undefined, so results carry only the optional fields that apply. */
function compact<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined)) as T;
}
