// Runs a parsed search against the mapped table: one query for the page (criteria, sort,
// keyset cursor, and the current snapshot of each match joined from resource_versions), and a
// count only when _total asks for it. Paging uses the sort values of the last row, never OFFSET,
// so rows inserted while a client pages cause neither duplicates nor gaps.
import type { Transaction } from '../../db/index.ts';
import type { AnyMapping } from '../mapping.ts';
import type { ResourceStore, StoredVersion, VersionRow } from '../resource-store.ts';
import { and, compileCriterion, hasCriterion, declarationsOf, quote, sortExpression, type MappingLookup, type Sql } from './compile.ts';
import type { ParsedSearch } from './types.ts';

const ROW = 'r';

interface SortKey {
  expression: string;
  descending: boolean;
}

export interface SearchPage {
  matches: StoredVersion[];
  /** The rows each match was rendered from (for _include). */
  snapshots: NonNullable<VersionRow['snapshot']>[];
  /** Sort values of the last match, when another page follows. */
  next?: (string | null)[];
  total?: number;
}

/** ORDER BY keys: each sort parameter (nulls last, in both directions), then the id. */
function sortKeys(mapping: AnyMapping, search: ParsedSearch): SortKey[] {
  const declarations = declarationsOf(mapping);
  const keys: SortKey[] = [];
  for (const sort of search.sort) {
    const declaration = declarations[sort.name];
    if (!declaration) continue;
    const expression = sortExpression(ROW, declaration);
    keys.push({ expression: `(${expression} is null)`, descending: false }, { expression, descending: sort.descending });
  }
  keys.push({ expression: `${ROW}.id`, descending: false });
  return keys;
}

/** Rows strictly after the cursor in ORDER BY order. A null sort value follows its "is null" key being true. */
function after(keys: SortKey[], cursor: (string | null)[]): Sql {
  const alternatives: Sql[] = [];
  const equal: Sql[] = [];
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    const value = cursor[i] ?? null;
    if (value === null) continue; // only rows whose value is null too remain here: nothing orders them
    const isFlag = key.expression.endsWith(' is null)');
    const bound = isFlag ? `?::boolean` : '?';
    alternatives.push(and([...equal, { sql: `${key.expression} ${key.descending ? '<' : '>'} ${bound}`, bindings: [value] }]));
    equal.push({ sql: `${key.expression} = ${bound}`, bindings: [value] });
  }
  if (alternatives.length === 0) return { sql: 'false', bindings: [] };
  return {
    sql: alternatives.map((a) => `(${a.sql})`).join(' or '),
    bindings: alternatives.flatMap((a) => a.bindings),
  };
}

export interface SearchOptions {
  count: number;
  cursor?: (string | null)[];
  total: 'none' | 'estimate' | 'accurate';
}

export async function executeSearch(trx: Transaction, store: ResourceStore, lookup: MappingLookup, tenantId: string,
  search: ParsedSearch, options: SearchOptions): Promise<SearchPage> {
  const mapping = store.mapping(search.resourceType);
  const filters: Sql[] = [
    { sql: `${ROW}.tenant_id = ?`, bindings: [tenantId] },
    ...(mapping.softDelete ? [{ sql: `${ROW}.deleted_at is null`, bindings: [] }] : []),
    ...search.criteria.map((criterion) => compileCriterion(ROW, mapping, criterion, lookup)),
    ...search.has.map((has) => compileCriterion(ROW, mapping, hasCriterion(has), lookup)),
  ];
  const where = and(filters);
  const keys = sortKeys(mapping, search);
  const page = options.cursor ? and([where, after(keys, options.cursor)]) : where;
  const table = `${quote(mapping.table)} ${ROW}`;

  const total = options.total === 'accurate'
    ? Number((await trx.raw<{ rows: { n: number }[] }>(`select count(*) as n from ${table} where ${where.sql}`, where.bindings)).rows[0]?.n)
    : options.total === 'estimate' ? await estimate(trx, `select 1 from ${table} where ${where.sql}`, where.bindings) : undefined;
  if (options.count === 0) return { matches: [], snapshots: [], total };

  const { rows } = await trx.raw<{ rows: (VersionRow & { keys: (string | null)[] })[] }>(
    `select v.resource_type, v.resource_id, v.version_id, v.last_updated, v.operation, v.snapshot, v.seq,
            array[${keys.map((k) => `(${k.expression})::text`).join(', ')}] as keys
     from ${table}
     join fhir_resource_versions v on v.tenant_id = ${ROW}.tenant_id and v.resource_type = ? and v.resource_id = ${ROW}.id and v.version_id = ${ROW}.version_id
     where ${page.sql}
     order by ${keys.map((k) => `${k.expression} ${k.descending ? 'desc' : 'asc'}`).join(', ')}
     limit ?`,
    [mapping.type, ...page.bindings, options.count + 1],
  );
  const matches = rows.slice(0, options.count);
  return {
    matches: matches.map((row) => store.render(row)),
    snapshots: matches.map((row) => row.snapshot!),
    next: rows.length > options.count ? matches.at(-1)?.keys : undefined,
    total,
  };
}

/** The planner's row estimate (search.html#total: "estimate"). */
async function estimate(trx: Transaction, sql: string, bindings: Sql['bindings']): Promise<number> {
  const { rows } = await trx.raw<{ rows: { 'QUERY PLAN': [{ Plan: { 'Plan Rows': number } }] }[] }>(`explain (format json) ${sql}`, bindings);
  return Math.round(rows[0]?.['QUERY PLAN'][0].Plan['Plan Rows'] ?? 0);
}
