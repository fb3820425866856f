// Compiles parsed search criteria (parse.ts) into SQL conditions on a mapping's columns
// (https://hl7.org/fhir/R4/search.html). Columns of child tables are matched with EXISTS;
// chained parameters and _has become subqueries on the other type's table. Every subquery is
// tied to the outer row's tenant. Values are always bound, never spliced into the SQL.
import type { Knex } from 'knex';
import { isUuid } from '../../db/index.ts';
import type { AnyMapping } from '../mapping.ts';
import type { ColumnRef, SearchParameterDeclaration, TokenDeclaration } from './declarations.ts';
import type { DateRange, HasCriterion, Prefix, SearchCriterion, SearchValue } from './types.ts';

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

/** Parameters every mapped type has (search.html#all). */
export const COMMON_PARAMETERS: Record<string, SearchParameterDeclaration> = {
  _id: { type: 'token', expression: 'Resource.id', description: 'Logical id of the resource', code: 'id', uuid: true },
  _lastUpdated: { type: 'date', expression: 'Resource.meta.lastUpdated', description: 'When the resource version last changed', start: 'last_updated', columnType: 'timestamp' },
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

/**
 * A condition on one column, evaluated on the row `alias` of the mapping's table, or — for a
 * child column — on any of the row's children (EXISTS).
 */
function onColumn(alias: string, ref: ColumnRef, condition: (column: string) => Sql): Sql {
  if (typeof ref === 'string') return condition(`${alias}.${quote(ref)}`);
  const child = nextAlias('c');
  const inner = condition(`${child}.${quote(ref.column)}`);
  return {
    sql: `exists (select 1 from ${quote(ref.table)} ${child} where ${child}.tenant_id = ${alias}.tenant_id`
      + ` and ${child}.${quote(ref.foreignKey)} = ${alias}.id and (${inner.sql}))`,
    bindings: inner.bindings,
  };
}

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

function stringCondition(alias: string, columns: ColumnRef[], modifier: string | undefined, value: string): Sql {
  return or(columns.map((ref) => onColumn(alias, ref, (column) => {
    if (modifier === 'exact') return { sql: `${column} = ?`, bindings: [value] };
    const pattern = modifier === 'contains' ? `%${likeEscape(fold(value))}%` : `${likeEscape(fold(value))}%`;
    return { sql: `cusp_fold(${column}) like ?`, bindings: [pattern] };
  })));
}

function tokenCondition(alias: string, declaration: TokenDeclaration, value: Extract<SearchValue, { type: 'token' }>): Sql {
  const code = value.code;
  if (code !== undefined && declaration.uuid && !isUuid(code)) return FALSE;
  // A code matches the column values that read as it: with a code table, the schema's enum
  // values for the code (none: nothing matches); otherwise the code itself.
  const columnValues = code === undefined ? undefined : declaration.codes ? declaration.codes.columnsReadAs(code) : [code];
  if (columnValues?.length === 0) return FALSE;
  const system = declaration.system;
  const codeMatch = (column: string): Sql => (columnValues === undefined ? TRUE
    : columnValues.length === 1 ? { sql: `${column} = ?`, bindings: [columnValues[0]!] }
      : { sql: `${column} in (${columnValues.map(() => '?').join(', ')})`, bindings: columnValues });
  if (value.system === undefined) return onColumn(alias, declaration.code, codeMatch);
  if (system === undefined) return value.system === '' ? onColumn(alias, declaration.code, codeMatch) : FALSE;
  if (typeof system === 'object' && 'fixed' in system) return value.system === system.fixed ? onColumn(alias, declaration.code, codeMatch) : FALSE;
  // System and code in columns of the same (child) row.
  const systemMatch = (column: string): Sql => (value.system === '' ? { sql: `${column} is null`, bindings: [] } : { sql: `${column} = ?`, bindings: [value.system ?? null] });
  if (typeof declaration.code === 'string' && typeof system === 'string') {
    return and([systemMatch(`${alias}.${quote(system)}`), codeMatch(`${alias}.${quote(declaration.code)}`)]);
  }
  if (typeof declaration.code !== 'string' && typeof system !== 'string' && system.table === declaration.code.table) {
    const row = nextAlias('c');
    const inner = and([systemMatch(`${row}.${quote(system.column)}`), codeMatch(`${row}.${quote(declaration.code.column)}`)]);
    return {
      sql: `exists (select 1 from ${quote(declaration.code.table)} ${row} where ${row}.tenant_id = ${alias}.tenant_id`
        + ` and ${row}.${quote(declaration.code.foreignKey)} = ${alias}.id and (${inner.sql}))`,
      bindings: inner.bindings,
    };
  }
  throw new Error('a token system and code must lie in the same table');
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

function valueCondition(alias: string, name: string, declaration: SearchParameterDeclaration, modifier: string | undefined,
  value: SearchValue): Sql {
  if (value.type === 'missing') {
    if (declaration.type === 'string') return (value.missing ? and : or)(declaration.columns.map((ref) => missing(alias, ref, value.missing)));
    return missing(alias, firstColumn(declaration), value.missing);
  }
  switch (declaration.type) {
    case 'string':
      if (value.type !== 'string') break;
      return stringCondition(alias, declaration.columns, modifier, value.value);
    case 'token':
      if (value.type !== 'token' || value.value !== undefined) break;
      return tokenCondition(alias, declaration, value);
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

const SUPPORTED_MODIFIERS: Record<string, (string | undefined)[]> = {
  string: [undefined, 'exact', 'contains', 'missing'],
  token: [undefined, 'not', 'missing'],
  date: [undefined, 'missing'],
  number: [undefined, 'missing'],
  quantity: [undefined, 'missing'],
  uri: [undefined, 'missing'],
  reference: [undefined, 'missing'],
};

export function compileCriterion(alias: string, mapping: AnyMapping, criterion: SearchCriterion, lookup: MappingLookup): Sql {
  if (criterion.has) return compileHas(alias, mapping, criterion.has, lookup);
  const declaration = declarationsOf(mapping)[criterion.name];
  if (!declaration) throw new UnsupportedSearch(criterion.name, `${criterion.name} is not a search parameter of ${mapping.type}`);

  if (criterion.chain) {
    if (declaration.type !== 'reference') throw new UnsupportedSearch(criterion.name, `${criterion.name} is not a reference`);
    const target = lookup(criterion.chain.targetType);
    if (!target) throw new UnsupportedSearch(criterion.name, `${criterion.chain.targetType} is not served here`);
    const inner = nextAlias('t');
    const condition = compileCriterion(inner, target, criterion.chain.next, lookup);
    return onColumn(alias, declaration.column, (column) => ({
      sql: `${column} in (select ${inner}.id from ${quote(target.table)} ${inner} where ${inner}.tenant_id = ${alias}.tenant_id`
        + `${target.softDelete ? ` and ${inner}.deleted_at is null` : ''} and (${condition.sql}))`,
      bindings: condition.bindings,
    }));
  }

  const modifier = criterion.modifier;
  const isTypeModifier = declaration.type === 'reference' && modifier !== undefined && /^[A-Z]/.test(modifier);
  if (!isTypeModifier && !SUPPORTED_MODIFIERS[declaration.type]?.includes(modifier)) {
    throw new UnsupportedSearch(criterion.name, `the :${modifier} modifier is not supported on ${criterion.name}`);
  }
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
  const ref = firstColumn(declaration);
  if (typeof ref === 'string') return `${alias}.${quote(ref)}`;
  return `(select min(s.${quote(ref.column)}) from ${quote(ref.table)} s where s.tenant_id = ${alias}.tenant_id and s.${quote(ref.foreignKey)} = ${alias}.id)`;
}

export { quote };
