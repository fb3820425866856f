// _include and _revinclude (with :iterate) — https://hl7.org/fhir/R4/search.html#include
// References are read from the matches' snapshots (the rows they were rendered from), targets
// are fetched with one query per include, and nothing is truncated silently: past the limit the
// caller gets an OperationOutcome saying so.
import type { Transaction } from '../../db/index.ts';
import type { ResourceStore, StoredVersion, VersionRow } from '../resource-store.ts';
import { declarationsOf, quote, type MappingLookup } from './compile.ts';
import type { ColumnRef } from './declarations.ts';
import type { IncludeSpec } from './types.ts';

export const MAX_INCLUDED = 1000;
const MAX_ITERATIONS = 4;

export interface IncludeResult {
  included: StoredVersion[];
  warnings: string[];
}

interface Context {
  trx: Transaction;
  store: ResourceStore;
  lookup: MappingLookup;
  tenantId: string;
  /** Whether the caller's scopes let it read this type. */
  mayRead(resourceType: string): boolean;
  /** At most this many included resources (MAX_INCLUDED unless given). */
  limit?: number;
}

type Snapshot = NonNullable<VersionRow['snapshot']>;

function referencedIds(resources: StoredVersion[], snapshots: Map<string, Snapshot>, column: ColumnRef): string[] {
  const ids = new Set<string>();
  for (const resource of resources) {
    const snapshot = snapshots.get(`${resource.resourceType}/${resource.id}`);
    if (!snapshot) continue;
    const values = typeof column === 'string'
      ? [snapshot[column]]
      : (snapshot._children?.[column.table] ?? []).map((row) => row[column.column]);
    for (const value of values) if (typeof value === 'string') ids.add(value);
  }
  return [...ids];
}

async function currentVersions(context: Context, resourceType: string, where: { column: string; ids: string[] }, limit: number): Promise<VersionRow[]> {
  const mapping = context.store.mapping(resourceType);
  if (where.ids.length === 0) return [];
  const { rows } = await context.trx.raw<{ rows: VersionRow[] }>(
    `select v.resource_type, v.resource_id, v.version_id, v.last_updated, v.operation, v.snapshot, v.seq
     from ${quote(mapping.table)} t
     join fhir_resource_versions v on v.tenant_id = t.tenant_id and v.resource_type = ? and v.resource_id = t.id and v.version_id = t.version_id
     where t.tenant_id = ? and t.${quote(where.column)} = any(?::uuid[])${mapping.softDelete ? ' and t.deleted_at is null' : ''}
     order by t.id limit ?`,
    [resourceType, context.tenantId, where.ids, limit],
  );
  return rows;
}

export async function resolveIncludes(context: Context, matches: { version: StoredVersion; snapshot: Snapshot }[],
  include: IncludeSpec[], revinclude: IncludeSpec[]): Promise<IncludeResult> {
  const seen = new Set(matches.map((m) => `${m.version.resourceType}/${m.version.id}`));
  const snapshots = new Map(matches.map((m) => [`${m.version.resourceType}/${m.version.id}`, m.snapshot]));
  const included: StoredVersion[] = [];
  const warnings: string[] = [];
  let frontier = matches.map((m) => m.version);
  const limit = context.limit ?? MAX_INCLUDED;

  const add = (rows: VersionRow[]): StoredVersion[] => {
    const added: StoredVersion[] = [];
    for (const row of rows) {
      const key = `${row.resource_type}/${row.resource_id}`;
      if (seen.has(key) || !row.snapshot) continue;
      seen.add(key);
      snapshots.set(key, row.snapshot);
      const version = context.store.render(row);
      included.push(version);
      added.push(version);
    }
    return added;
  };

  for (let iteration = 0; iteration < MAX_ITERATIONS && frontier.length > 0; iteration++) {
    const next: StoredVersion[] = [];
    const applicable = (spec: IncludeSpec) => iteration === 0 || spec.iterate;
    for (const spec of include.filter(applicable)) {
      const sources = frontier.filter((r) => r.resourceType === spec.sourceType);
      const mapping = context.lookup(spec.sourceType);
      if (!mapping || sources.length === 0) continue;
      const parameters = Object.entries(declarationsOf(mapping))
        .filter(([name, d]) => d.type === 'reference' && (spec.wildcard || name === spec.parameter));
      for (const [name, declaration] of parameters) {
        if (declaration.type !== 'reference') continue;
        for (const target of declaration.targets.filter((t) => !spec.targetType || t === spec.targetType)) {
          if (!context.lookup(target)) continue;
          if (!context.mayRead(target)) {
            warnings.push(`${spec.sourceType}:${name} targets ${target}, which the granted scopes do not allow reading: not included`);
            continue;
          }
          const ids = referencedIds(sources, snapshots, declaration.column).filter((id) => !seen.has(`${target}/${id}`));
          const room = limit - included.length;
          const rows = await currentVersions(context, target, { column: 'id', ids }, room + 1);
          if (rows.length > room) warnings.push(`_include ${spec.sourceType}:${name} stopped at ${limit} included resources; narrow the search to see the rest`);
          next.push(...add(rows.slice(0, room)));
        }
      }
    }
    for (const spec of revinclude.filter(applicable)) {
      const source = context.lookup(spec.sourceType);
      if (!source) continue;
      if (!context.mayRead(spec.sourceType)) {
        warnings.push(`${spec.sourceType} is not readable with the granted scopes: _revinclude ${spec.sourceType}:${spec.parameter} skipped`);
        continue;
      }
      const parameters = Object.entries(declarationsOf(source))
        .filter(([name, d]) => d.type === 'reference' && (spec.wildcard || name === spec.parameter));
      for (const [name, declaration] of parameters) {
        if (declaration.type !== 'reference' || typeof declaration.column !== 'string') continue;
        const targets = frontier.filter((r) => declaration.targets.includes(r.resourceType)).map((r) => r.id);
        const room = limit - included.length;
        const rows = await currentVersions(context, spec.sourceType, { column: declaration.column, ids: targets }, room + 1);
        if (rows.length > room) warnings.push(`_revinclude ${spec.sourceType}:${name} stopped at ${limit} included resources; narrow the search to see the rest`);
        next.push(...add(rows.slice(0, room)));
      }
    }
    frontier = next;
  }
  return { included, warnings };
}
