// Compiles parsed search criteria (parse.ts) into SQL conditions on a mapping's columns
// (https://hl7.org/fhir/R4/search.html). Columns of child tables are matched with EXISTS;
// chained parameters and _has become subqueries on the other type's table. Every subquery is
// tied to the outer row's tenant. Values are always bound, never spliced into the SQL.
import type { Knex } from 'knex';
import { isUuid } from '../../db/index.ts';
import type { AnyMapping } from '../mapping.ts';
import type { CodeTable } from '../codes.ts';
import type { CodeDisplay, ColumnRef, ReferenceDeclaration, SearchParameterDeclaration, StringDeclaration, TokenDeclaration } from './declarations.ts';
import type { Chain, DateRange, HasCriterion, Prefix, SearchCriterion, SearchValue } from './types.ts';

export interface Sql {
  sql: string;
  bindings: Knex.Value[];
}

/** A search feature the parser accepts but this server does not implement; reported like an unknown parameter. */
export class UnsupportedSearch extends Error {
  constructor(readonly parameter: string, message: string) {
    super(message);
  }
}

export type MappingLookup = (resourceType: string) => AnyMapping | undefined;

const FALSE: Sql = { sql: 'false', bindings: [] };
const TRUE: Sql = { sql: 'true', bindings: [] };

/**
 * Tags, profiles and security labels are written by clients and have no columns: they lie in the
 * residual (residual.ts), `fhir_residual -> 'meta' -> 'value'` on every mapped table or view. No
 * mapping renders meta, so the residual's value is always the one a read shows.
 */
type MetaElement = 'tag' | 'profile' | 'security';
type MetaDeclaration = SearchParameterDeclaration & { meta: MetaElement };
const RESIDUAL = 'fhir_residual';

const isMeta = (declaration: SearchParameterDeclaration): declaration is MetaDeclaration => 'meta' in declaration;
/** The written meta; migrations/018 indexes this expression (GIN, jsonb_path_ops) on every table that has a residual. */
const writtenMeta = (alias: string) => `(${alias}.${quote(RESIDUAL)} -> 'meta' -> 'value')`;

const META_PARAMETERS: Record<string, MetaDeclaration> = {
  _tag: { type: 'token', expression: 'Resource.meta.tag', description: 'Tags applied to this resource', code: RESIDUAL, meta: 'tag' },
  _profile: { type: 'uri', expression: 'Resource.meta.profile', description: 'Profiles this resource claims to conform to', column: RESIDUAL, meta: 'profile' },
  _security: { type: 'token', expression: 'Resource.meta.security', description: 'Security Labels applied to this resource', code: RESIDUAL, meta: 'security' },
};

/** Parameters every mapped type has (search.html#all). */
export const COMMON_PARAMETERS: Record<string, SearchParameterDeclaration> = {
  _id: { type: 'token', expression: 'Resource.id', description: 'Logical id of the resource', code: 'id', uuid: true },
  _lastUpdated: { type: 'date', expression: 'Resource.meta.lastUpdated', description: 'When the resource version last changed', start: 'last_updated', columnType: 'timestamp' },
  ...META_PARAMETERS,
};

/**
 * R4 defines some parameters once for several types (https://hl7.org/fhir/R4/searchparameter-registry.html):
 * their ids are not "[type]-[name]".
 */
const SHARED_R4_PARAMETERS: Record<string, string> = {
  'Patient.family': 'individual-family', 'Patient.given': 'individual-given', 'Patient.gender': 'individual-gender',
  'Patient.birthdate': 'individual-birthdate', 'Patient.email': 'individual-email', 'Patient.phone': 'individual-phone',
  'Patient.address-city': 'individual-address-city', 'Patient.address-postalcode': 'individual-address-postalcode',
  'Encounter.patient': 'clinical-patient', 'Encounter.date': 'clinical-date', 'Encounter.type': 'clinical-type',
  'Procedure.patient': 'clinical-patient', 'Procedure.date': 'clinical-date', 'Procedure.code': 'clinical-code',
  'Procedure.encounter': 'clinical-encounter',
  'Observation.patient': 'clinical-patient', 'Observation.date': 'clinical-date', 'Observation.code': 'clinical-code',
  'Observation.encounter': 'clinical-encounter',
  'ImagingStudy.patient': 'clinical-patient', 'ImagingStudy.identifier': 'clinical-identifier',
};

/** The canonical URL of a search parameter: the one R4 defines for it. */
export function searchParameterUrl(type: string, name: string): string {
  if (name in COMMON_PARAMETERS) return `http://hl7.org/fhir/SearchParameter/Resource-${name.slice(1)}`;
  return `http://hl7.org/fhir/SearchParameter/${SHARED_R4_PARAMETERS[`${type}.${name}`] ?? `${type}-${name}`}`;
}

export function declarationsOf(mapping: AnyMapping): Record<string, SearchParameterDeclaration> {
  return { ...COMMON_PARAMETERS, ...mapping.search };
}

const quote = (identifier: string) => `"${identifier.replace(/"/g, '""')}"`;
export const and = (parts: Sql[]): Sql => combine(parts, ' and ', TRUE);
const or = (parts: Sql[]): Sql => combine(parts, ' or ', FALSE);

function combine(parts: Sql[], operator: string, empty: Sql): Sql {
  if (parts.length === 0) return empty;
  if (parts.length === 1) return parts[0]!;
  return { sql: parts.map((p) => `(${p.sql})`).join(operator), bindings: parts.flatMap((p) => p.bindings) };
}

/** Lower case without diacritics, as cusp_fold() does in the database (migrations/011). */
export const fold = (value: string) => value.toLowerCase().normalize('NFD').replace(/[\u0300-\u036f]/g, '');
const likeEscape = (value: string) => value.replace(/[\\%_]/g, (c) => `\\${c}`);

let aliasCounter = 0;
const nextAlias = (prefix: string) => `${prefix}${++aliasCounter % 1_000_000}`;

/** A condition on a column, given the column as SQL. */
type OnColumn = (column: string) => Sql;
type ColumnCondition = [ColumnRef, OnColumn];

/**
 * Conditions that one row must meet together: the row `alias` of the mapping's table, or — for
 * columns of a child table — one of the row's children (EXISTS).
 */
function inOneRow(alias: string, conditions: ColumnCondition[]): Sql {
  const first = conditions[0]?.[0];
  const child = typeof first === 'object' ? first : undefined;
  const columnOf = (ref: ColumnRef): string => {
    if (typeof ref === 'string' && !child) return ref;
    if (typeof ref === 'object' && ref.table === child?.table) return ref.column;
    throw new Error('columns matched in one row must lie in the same table');
  };
  const row = child ? nextAlias('c') : alias;
  const inner = and(conditions.map(([ref, condition]) => condition(`${row}.${quote(columnOf(ref))}`)));
  if (!child) return inner;
  return {
    sql: `exists (select 1 from ${quote(child.table)} ${row} where ${row}.tenant_id = ${alias}.tenant_id`
      + ` and ${row}.${quote(child.foreignKey)} = ${alias}.id and (${inner.sql}))`,
    bindings: inner.bindings,
  };
}

/** A condition on one column, on the row `alias` or on any of its children. */
const onColumn = (alias: string, ref: ColumnRef, condition: OnColumn): Sql => inOneRow(alias, [[ref, condition]]);

function missing(alias: string, ref: ColumnRef, isMissing: boolean): Sql {
  if (typeof ref === 'string') return { sql: `${alias}.${quote(ref)} is ${isMissing ? '' : 'not '}null`, bindings: [] };
  const present = onColumn(alias, ref, (column) => ({ sql: `${column} is not null`, bindings: [] }));
  return isMissing ? { sql: `not ${present.sql}`, bindings: present.bindings } : present;
}

function firstColumn(declaration: SearchParameterDeclaration): ColumnRef {
  switch (declaration.type) {
    case 'string': return declaration.columns[0]!;
    case 'token': return declaration.code;
    case 'date': return declaration.start;
    default: return declaration.column;
  }
}

/** Default matching is starts-with; with `words`, the start of any word (after a space or hyphen). */
function stringCondition(alias: string, declaration: StringDeclaration, modifier: string | undefined, value: string): Sql {
  const folded = likeEscape(fold(value));
  const patterns = modifier === 'contains' ? [`%${folded}%`] : declaration.words ? [`${folded}%`, `% ${folded}%`, `%-${folded}%`] : [`${folded}%`];
  return or(declaration.columns.map((ref) => onColumn(alias, ref, (column) => {
    if (modifier === 'exact') return { sql: `${column} = ?`, bindings: [value] };
    return or(patterns.map((pattern) => ({ sql: `cusp_fold(${column}) like ?`, bindings: [pattern] })));
  })));
}

type TokenValue = Extract<SearchValue, { type: 'token' }>;

const valueIn = (values: string[]): OnColumn => (column) => (values.length === 1
  ? { sql: `${column} = ?`, bindings: values }
  : { sql: `${column} in (${values.map(() => '?').join(', ')})`, bindings: values });

/**
 * The column values that read as a FHIR code: with a code table, the schema's enum values for
 * the code (none: nothing matches); otherwise the code itself.
 */
const columnValues = (codes: CodeTable | undefined, code: string): string[] => (codes ? codes.columnsReadAs(code) : [code]);

/** What a token's system asks of the row: nothing ([]), a condition on the system column, or — undefined — the impossible. */
function systemConditions(declared: TokenDeclaration['system'], system: string | undefined): ColumnCondition[] | undefined {
  if (system === undefined) return [];
  if (declared === undefined) return system === '' ? [] : undefined;
  if (typeof declared === 'object' && 'fixed' in declared) return system === declared.fixed ? [] : undefined;
  return [[declared, (column) => (system === '' ? { sql: `${column} is null`, bindings: [] } : { sql: `${column} = ?`, bindings: [system] })]];
}

function tokenCondition(alias: string, declaration: TokenDeclaration, value: TokenValue): Sql {
  const code = value.code;
  if (code !== undefined && declaration.uuid && !isUuid(code)) return FALSE;
  const values = code === undefined ? undefined : columnValues(declaration.codes, code);
  const system = systemConditions(declaration.system, value.system);
  if (values?.length === 0 || system === undefined) return FALSE;
  const codeMatch: OnColumn = values ? valueIn(values) : (column) => ({ sql: `${column} is not null`, bindings: [] });
  // System and code in the same row (of a child table, one child).
  return inOneRow(alias, [...system, [declaration.code, codeMatch]]);
}

/** :text (search.html#token): the codes whose display starts with the text, folded as a string search folds. */
function textCondition(alias: string, declaration: TokenDeclaration, displays: readonly CodeDisplay[], text: string): Sql {
  const prefix = fold(text);
  const codes = displays.filter((display) => fold(display.display).startsWith(prefix));
  return or(codes.map(({ system, code }) => tokenCondition(alias, declaration, { type: 'token', system, code })));
}

/** identifier:of-type=[system]|[code]|[value]: one identifier whose type is that code and whose value is that value. */
function ofTypeCondition(alias: string, declaration: TokenDeclaration, type: NonNullable<TokenDeclaration['identifierType']>,
  value: TokenValue, identifierValue: string): Sql {
  const typeValues = value.system === type.system && value.code !== undefined ? columnValues(type.codes, value.code) : [];
  if (typeValues.length === 0) return FALSE;
  return inOneRow(alias, [[type.column, valueIn(typeValues)], [declaration.code, valueIn([identifierValue])]]);
}

type Comparison = '<' | '<=' | '>' | '>=';
/** A comparison of one end of the target's range ([start, end)) with a value. */
type Bound = (side: 'start' | 'end', comparison: Comparison, value: Knex.Value) => Sql;

/** Bounds given as SQL expressions (timestamps: one instant; periods: their span; numbers). */
function expressionBounds(start: string, end: string): Bound {
  return (side, comparison, value) => ({ sql: `${side === 'start' ? start : end} ${comparison} ?`, bindings: [value] });
}

const DAY = 86_400_000;
const utcDate = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/**
 * A date column covers its whole UTC day [d, d + 1 day). Each comparison is rewritten onto the
 * bare column, so a plain index serves it: d ≥ t ⇔ d ≥ ⌈t⌉, d > t ⇔ d > ⌊t⌋ (and likewise < and
 * ≤), and the end d + 1 day compares with t as d compares with t − 1 day.
 */
function dateColumnBounds(column: string): Bound {
  return (side, comparison, value) => {
    const t = Date.parse(String(value)) - (side === 'end' ? DAY : 0);
    const floor = utcDate(t);
    const ceil = t % DAY === 0 ? floor : utcDate(t + DAY);
    const bound = comparison === '>=' || comparison === '<' ? ceil : floor;
    return { sql: `${column} ${comparison} ?::date`, bindings: [bound] };
  };
}

/** Prefix semantics on ranges (search.html#prefix): the target [ts, te) against the value [ss, se). */
function rangeCondition(prefix: Prefix, target: Bound, value: { start: Knex.Value; end: Knex.Value }): Sql {
  const within = and([target('start', '>=', value.start), target('end', '<=', value.end)]);
  switch (prefix) {
    case 'eq': return within;
    case 'ne': return { sql: `not (${within.sql})`, bindings: within.bindings };
    case 'gt': return target('end', '>', value.end);
    case 'lt': return target('start', '<', value.start);
    case 'ge': return or([target('end', '>', value.end), within]);
    case 'le': return or([target('start', '<', value.start), within]);
    case 'sa': return target('start', '>=', value.end);
    case 'eb': return target('end', '<=', value.start);
    case 'ap': return and([target('start', '<', value.end), target('end', '>', value.start)]);
  }
}

/** "ap": the value's range widened by 10% of its distance from now (search.html#prefix). */
function approximately(range: DateRange): DateRange {
  const start = Date.parse(range.start);
  const end = Date.parse(range.end);
  const margin = Math.abs(Date.now() - start) * 0.1;
  return { start: new Date(start - margin).toISOString(), end: new Date(end + margin).toISOString() };
}

/**
 * _tag, _security (Coding: token) and _profile (canonical: uri) on the written meta. Containment
 * (@>) is what the index serves; `|code` (no system) needs a look at the codings besides.
 */
function metaCondition(alias: string, name: string, element: MetaElement, value: SearchValue): Sql {
  const meta = writtenMeta(alias);
  const contains = (item: unknown): Sql => ({ sql: `${meta} @> ?::jsonb`, bindings: [JSON.stringify({ [element]: [item] })] });
  switch (value.type) {
    case 'missing':
      return { sql: `(${meta} -> '${element}') is ${value.missing ? '' : 'not '}null`, bindings: [] };
    case 'uri':
      return contains(value.value);
    case 'token': {
      const found = contains({ system: value.system || undefined, code: value.code });
      if (value.system !== '') return found;
      return and([found, {
        sql: `exists (select 1 from jsonb_array_elements(${meta} -> '${element}') coding where coding ->> 'code' = ? and coding -> 'system' is null)`,
        bindings: [value.code ?? null],
      }]);
    }
    default:
      throw new UnsupportedSearch(name, `${name} with this kind of value is not supported`);
  }
}

function valueCondition(alias: string, name: string, declaration: SearchParameterDeclaration, modifier: string | undefined,
  value: SearchValue): Sql {
  if (isMeta(declaration)) return metaCondition(alias, name, declaration.meta, value);
  if (value.type === 'missing') {
    if (declaration.type === 'string') return (value.missing ? and : or)(declaration.columns.map((ref) => missing(alias, ref, value.missing)));
    return missing(alias, firstColumn(declaration), value.missing);
  }
  switch (declaration.type) {
    case 'string':
      if (value.type !== 'string') break;
      return stringCondition(alias, declaration, modifier, value.value);
    case 'token':
      if (value.type === 'string' && declaration.displays) return textCondition(alias, declaration, declaration.displays, value.value);
      if (value.type !== 'token') break;
      if (value.value === undefined) return tokenCondition(alias, declaration, value);
      if (declaration.identifierType) return ofTypeCondition(alias, declaration, declaration.identifierType, value, value.value);
      break;
    case 'date': {
      if (value.type !== 'date') break;
      const range = value.prefix === 'ap' ? approximately(value.range) : value.range;
      return onColumn(alias, declaration.start, (column) => {
        if (declaration.end) return rangeCondition(value.prefix, expressionBounds(column, `coalesce(${alias}.${quote(declaration.end)}, 'infinity')`), range);
        if (declaration.columnType === 'date') return rangeCondition(value.prefix, dateColumnBounds(column), range);
        return rangeCondition(value.prefix, expressionBounds(column, `(${column} + interval '1 microsecond')`), range);
      });
    }
    case 'number':
      if (value.type !== 'number') break;
      return onColumn(alias, declaration.column, (column) => rangeCondition(value.prefix, expressionBounds(column, column), { start: value.range.low, end: value.range.high }));
    case 'uri':
      if (value.type !== 'uri') break;
      return onColumn(alias, declaration.column, (column) => ({ sql: `${column} = ?`, bindings: [value.value] }));
    case 'reference': {
      if (value.type !== 'reference') break;
      const type = value.resourceType ?? (modifier && /^[A-Z]/.test(modifier) ? modifier : undefined);
      if (type !== undefined && !declaration.targets.includes(type)) return FALSE;
      if (value.id === undefined || !isUuid(value.id)) return FALSE;
      if (value.url && !value.resourceType) return FALSE; // an absolute URL of another server
      return onColumn(alias, declaration.column, (column) => ({ sql: `${column} = ?`, bindings: [value.id ?? null] }));
    }
    case 'quantity': {
      if (value.type !== 'quantity') break;
      if (value.system !== undefined && value.system !== declaration.system) return FALSE;
      if (value.code !== undefined && declaration.unitColumn === undefined && value.code !== declaration.unit) return FALSE;
      // Units are compared as written: no conversion between UCUM units.
      const unit: Sql = value.code !== undefined && declaration.unitColumn !== undefined
        ? { sql: `${alias}.${quote(declaration.unitColumn)} = ?`, bindings: [value.code] } : TRUE;
      return and([unit, onColumn(alias, declaration.column, (column) => rangeCondition(value.prefix, expressionBounds(column, column), { start: value.range.low, end: value.range.high }))]);
    }
  }
  throw new UnsupportedSearch(name, `${name}${modifier ? `:${modifier}` : ''} with this kind of value is not supported`);
}

/** The modifiers a parameter takes, as the URL writes them; references take :[type] besides. */
export function modifiersOf(declaration: SearchParameterDeclaration, lookup: MappingLookup): string[] {
  switch (declaration.type) {
    case 'string': return ['exact', 'contains', 'missing'];
    case 'token': return ['not', ...(declaration.displays ? ['text'] : []), ...(declaration.identifierType ? ['of-type'] : []), 'missing'];
    case 'reference': return [...(identifierTargets(declaration, lookup).length > 0 ? ['identifier'] : []), 'missing'];
    default: return ['missing'];
  }
}

/** The modifiers as SearchParameter.modifier codes (https://hl7.org/fhir/R4/valueset-search-modifier-code.html). */
export function modifierCodes(declaration: SearchParameterDeclaration, lookup: MappingLookup): string[] {
  const codes = modifiersOf(declaration, lookup).map((modifier) => (modifier === 'of-type' ? 'ofType' : modifier));
  return declaration.type === 'reference' ? [...codes, 'type'] : codes;
}

/** Why a parameter may lack a modifier that its type has. */
const NOT_SUPPORTED_BECAUSE: Record<string, string> = {
  text: 'no display text is known for its codes',
  'of-type': 'it has no identifier type',
  identifier: 'none of the types it refers to has an identifier parameter',
};

/** The types a reference can point to that have a token `identifier` parameter. */
function identifierTargets(declaration: ReferenceDeclaration, lookup: MappingLookup): string[] {
  return declaration.targets.filter((type) => {
    const target = lookup(type);
    return target !== undefined && declarationsOf(target).identifier?.type === 'token';
  });
}

/** A chain (search.html#chaining): the column holds the id of a chain.targetType resource that meets chain.next. */
function chainCondition(alias: string, name: string, column: ColumnRef, chain: Chain, lookup: MappingLookup): Sql {
  const target = lookup(chain.targetType);
  if (!target) throw new UnsupportedSearch(name, `${chain.targetType} is not served here`);
  const inner = nextAlias('t');
  const condition = compileCriterion(inner, target, chain.next, lookup);
  return onColumn(alias, column, (id) => ({
    sql: `${id} in (select ${inner}.id from ${quote(target.table)} ${inner} where ${inner}.tenant_id = ${alias}.tenant_id`
      + `${target.softDelete ? ` and ${inner}.deleted_at is null` : ''} and (${condition.sql}))`,
    bindings: condition.bindings,
  }));
}

/**
 * reference:identifier=[system]|[value]. References are stored as literal ids, never as
 * Reference.identifier, so this matches the referenced resource's identifier: the chain
 * [name]:[Type].identifier through each target type that has an identifier parameter.
 */
function referencedIdentifierCondition(alias: string, criterion: SearchCriterion, declaration: ReferenceDeclaration, lookup: MappingLookup): Sql {
  const next: SearchCriterion = {
    name: 'identifier',
    definition: { name: 'identifier', type: 'token' },
    values: criterion.values.map((value): SearchValue => (value.type === 'identifier' ? { type: 'token', system: value.system, code: value.value } : value)),
  };
  return or(identifierTargets(declaration, lookup)
    .map((targetType) => chainCondition(alias, criterion.name, declaration.column, { parameter: 'identifier', targetType, next }, lookup)));
}

export function compileCriterion(alias: string, mapping: AnyMapping, criterion: SearchCriterion, lookup: MappingLookup): Sql {
  if (criterion.has) return compileHas(alias, mapping, criterion.has, lookup);
  const declaration = declarationsOf(mapping)[criterion.name];
  if (!declaration) throw new UnsupportedSearch(criterion.name, `${criterion.name} is not a search parameter of ${mapping.type}`);

  if (criterion.chain) {
    if (declaration.type !== 'reference') throw new UnsupportedSearch(criterion.name, `${criterion.name} is not a reference`);
    return chainCondition(alias, criterion.name, declaration.column, criterion.chain, lookup);
  }

  const modifier = criterion.modifier;
  const isTypeModifier = declaration.type === 'reference' && modifier !== undefined && /^[A-Z]/.test(modifier);
  if (modifier !== undefined && !isTypeModifier && !modifiersOf(declaration, lookup).includes(modifier)) {
    const because = NOT_SUPPORTED_BECAUSE[modifier];
    throw new UnsupportedSearch(criterion.name, `the :${modifier} modifier is not supported on ${criterion.name}${because ? `: ${because}` : ''}`);
  }
  if (modifier === 'identifier' && declaration.type === 'reference') return referencedIdentifierCondition(alias, criterion, declaration, lookup);
  const alternatives = or(criterion.values.map((value) => valueCondition(alias, criterion.name, declaration, modifier, value)));
  if (modifier === 'not') return { sql: `not coalesce((${alternatives.sql}), false)`, bindings: alternatives.bindings };
  return alternatives;
}

/** A top-level _has as a criterion, so it compiles and combines like any other. */
export const hasCriterion = (has: HasCriterion): SearchCriterion => ({ name: '_has', definition: { name: '_has', type: 'special' }, values: [], has });

/** _has:Type:reference:criterion — resources that some Type resource refers to through reference. */
export function compileHas(alias: string, mapping: AnyMapping, has: HasCriterion, lookup: MappingLookup): Sql {
  const source = lookup(has.targetType);
  if (!source) throw new UnsupportedSearch('_has', `${has.targetType} is not served here`);
  const reference = declarationsOf(source)[has.referenceParam];
  if (reference?.type !== 'reference' || typeof reference.column !== 'string') {
    throw new UnsupportedSearch('_has', `${has.targetType}.${has.referenceParam} cannot be used with _has`);
  }
  if (!reference.targets.includes(mapping.type)) return FALSE;
  const inner = nextAlias('h');
  const condition = compileCriterion(inner, source, has.criterion, lookup);
  return {
    sql: `exists (select 1 from ${quote(source.table)} ${inner} where ${inner}.tenant_id = ${alias}.tenant_id`
      + ` and ${inner}.${quote(reference.column)} = ${alias}.id${source.softDelete ? ` and ${inner}.deleted_at is null` : ''} and (${condition.sql}))`,
    bindings: condition.bindings,
  };
}

/** The SQL expression a sort key orders by (its first column; child columns by their least value). */
export function sortExpression(alias: string, declaration: SearchParameterDeclaration): string {
  if (isMeta(declaration)) return `(${writtenMeta(alias)} -> '${declaration.meta}')`;
  const ref = firstColumn(declaration);
  if (typeof ref === 'string') return `${alias}.${quote(ref)}`;
  return `(select min(s.${quote(ref.column)}) from ${quote(ref.table)} s where s.tenant_id = ${alias}.tenant_id and s.${quote(ref.foreignKey)} = ${alias}.id)`;
}

export { quote };
