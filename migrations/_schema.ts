// Building blocks shared by the migrations, so that every table follows the same rules:
// UUID keys, tenant_id on tenant-scoped tables with row-level security, a foreign key with an
// index for every reference (composite (tenant_id, x_id) between tenant-scoped tables, so a
// row can never point into another tenant), provenance columns on PHI tables, and
// trigger-maintained version_id/last_updated on tables that back FHIR resources.
import type { Knex } from 'knex';

export const TENANT_ROLE = 'cusp_app';
export const PLATFORM_ROLE = 'cusp_platform';

export interface TableOptions {
  /** PHI-bearing: adds created_at/created_by/updated_at/updated_by (section XI of the schema). */
  phi?: boolean;
  /** Backs a FHIR resource: adds version_id and last_updated, bumped by trigger on every UPDATE. */
  versioned?: boolean;
  /** Soft delete (seed 003): adds deleted_at. */
  softDelete?: boolean;
  /** Plain created_at/updated_at for non-PHI tables. */
  timestamps?: boolean;
}

type Build = (table: Knex.CreateTableBuilder) => void;

export interface RefOptions {
  nullable?: boolean;
  onDelete?: 'CASCADE' | 'RESTRICT';
}

/**
 * A uuid column referencing a tenant-scoped table, enforced to stay inside the tenant. The key is
 * checked at once, but is deferrable: a FHIR transaction defers it to commit, so its entries may
 * refer to each other in any order.
 */
export function tenantRef(table: Knex.TableBuilder, column: string, target: string, options: RefOptions = {}): void {
  const col = table.uuid(column);
  if (options.nullable === false) col.notNullable();
  const fk = table.foreign(['tenant_id', column]).references(['tenant_id', 'id']).inTable(target).deferrable('immediate');
  if (options.onDelete) fk.onDelete(options.onDelete);
  table.index(['tenant_id', column]);
}

/** A uuid column referencing a global (not tenant-scoped) table. */
export function globalRef(table: Knex.TableBuilder, column: string, target: string, options: RefOptions = {}): void {
  const col = table.uuid(column);
  if (options.nullable === false) col.notNullable();
  const fk = table.foreign(column).references('id').inTable(target).deferrable('immediate');
  if (options.onDelete) fk.onDelete(options.onDelete);
  table.index([column]);
}

function addStandardColumns(knex: Knex, table: Knex.CreateTableBuilder, options: TableOptions): void {
  if (options.phi) {
    table.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    table.uuid('created_by').comment('actor id: users.id or api_clients.id');
    table.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    table.uuid('updated_by').comment('actor id: users.id or api_clients.id');
  } else if (options.timestamps) {
    table.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    table.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  }
  if (options.softDelete) table.timestamp('deleted_at', { useTz: true });
  if (options.versioned) {
    table.bigInteger('version_id').notNullable().defaultTo(1);
    table.timestamp('last_updated', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  }
}

async function addTriggers(knex: Knex, name: string, options: TableOptions): Promise<void> {
  if (options.phi || options.timestamps) {
    await knex.raw(`create trigger ${name}_updated_at before update on ${name} for each row execute function cusp_set_updated_at()`);
  }
  if (options.versioned) {
    await knex.raw(`create trigger ${name}_version before update on ${name} for each row execute function cusp_bump_version()`);
  }
}

/**
 * A table that belongs to one tenant: tenant_id, RLS for cusp_app, full access for cusp_platform.
 * The primary key is (tenant_id, id): an id is unique within its tenant only, so one tenant can
 * never learn from a key collision that another holds an id (and the key shards by tenant).
 */
export async function createTenantTable(knex: Knex, name: string, build: Build, options: TableOptions = {}): Promise<void> {
  await knex.schema.createTable(name, (table) => {
    table.uuid('id').notNullable().defaultTo(knex.raw('gen_random_uuid()'));
    table.uuid('tenant_id').notNullable().references('id').inTable('tenants');
    build(table);
    addStandardColumns(knex, table, options);
    table.primary(['tenant_id', 'id'], { constraintName: `${name}_pkey` });
  });
  await enableTenantIsolation(knex, name);
  await addTriggers(knex, name, options);
}

/** A table shared by all tenants (catalogues, global identities). */
export async function createGlobalTable(knex: Knex, name: string, build: Build, options: TableOptions = {}): Promise<void> {
  await knex.schema.createTable(name, (table) => {
    table.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    build(table);
    addStandardColumns(knex, table, options);
  });
  await knex.raw(`grant select, insert, update, delete on ${name} to ${TENANT_ROLE}, ${PLATFORM_ROLE}`);
  await addTriggers(knex, name, options);
}

/** Row-level security keyed on the per-transaction setting cusp.tenant_id (see src/db). */
export async function enableTenantIsolation(knex: Knex, name: string, column = 'tenant_id'): Promise<void> {
  await knex.raw(`alter table ${name} enable row level security`);
  await knex.raw(`alter table ${name} force row level security`);
  await knex.raw(`create policy ${name}_tenant_isolation on ${name} to ${TENANT_ROLE}
    using (${column} = cusp_tenant_id()) with check (${column} = cusp_tenant_id())`);
  await knex.raw(`create policy ${name}_platform_access on ${name} to ${PLATFORM_ROLE} using (true) with check (true)`);
  await knex.raw(`grant select, insert, update, delete on ${name} to ${TENANT_ROLE}, ${PLATFORM_ROLE}`);
}

/** Drops tables in reverse order of creation (for `down`). */
export async function dropTables(knex: Knex, names: string[]): Promise<void> {
  for (const name of [...names].reverse()) await knex.schema.dropTableIfExists(name);
}

/**
 * Row-level security for a table whose rows are either global (tenant_id null, shared by all
 * tenants) or owned by one tenant: cusp_app reads global rows and its own, writes only its own;
 * cusp_platform has full access. Used by roles, role_permissions and ai_model_deployments.
 */
export async function enableSharedTenantIsolation(knex: Knex, name: string): Promise<void> {
  await knex.raw(`alter table ${name} enable row level security`);
  await knex.raw(`alter table ${name} force row level security`);
  await knex.raw(`create policy ${name}_tenant_read on ${name} for select to ${TENANT_ROLE}
    using (tenant_id is null or tenant_id = cusp_tenant_id())`);
  await knex.raw(`create policy ${name}_tenant_insert on ${name} for insert to ${TENANT_ROLE}
    with check (tenant_id = cusp_tenant_id())`);
  await knex.raw(`create policy ${name}_tenant_update on ${name} for update to ${TENANT_ROLE}
    using (tenant_id = cusp_tenant_id()) with check (tenant_id = cusp_tenant_id())`);
  await knex.raw(`create policy ${name}_tenant_delete on ${name} for delete to ${TENANT_ROLE}
    using (tenant_id = cusp_tenant_id())`);
  await knex.raw(`create policy ${name}_platform_access on ${name} to ${PLATFORM_ROLE} using (true) with check (true)`);
  await knex.raw(`grant select, insert, update, delete on ${name} to ${TENANT_ROLE}, ${PLATFORM_ROLE}`);
}

/**
 * A uuid column that may point at rows of several tables (the table is named by a companion
 * *_type column), so it cannot carry a foreign key: it is indexed (after tenant_id on
 * tenant-scoped tables) and commented with the reason.
 */
export function polymorphicId(table: Knex.TableBuilder, column: string, why: string,
  options: { nullable?: boolean; tenantScoped?: boolean } = {}): void {
  const col = table.uuid(column).comment(`no foreign key: ${why}`);
  if (options.nullable === false) col.notNullable();
  table.index(options.tenantScoped === false ? [column] : ['tenant_id', column]);
}

/** Money: numeric(12,2). */
export function money(table: Knex.TableBuilder, column: string): Knex.ColumnBuilder {
  return table.decimal(column, 12, 2);
}

/** A probability or model confidence in [0, 1]: numeric(5,4) with a CHECK. */
export function confidence(table: Knex.TableBuilder, column: string): Knex.ColumnBuilder {
  return table.decimal(column, 5, 4).checkBetween([0, 1]);
}

export interface ResourceHistory {
  /** The table whose rows are the resources. */
  table: string;
  resourceType: string;
  /** Tables whose rows belong to one resource, by the column that points at it. */
  children?: { table: string; foreignKey: string }[];
}

/**
 * Versions of a FHIR resource type (see 009_fhir_resource_versions.ts): the resource's table
 * records a snapshot at each commit, its children's changes bump it, and a residual column
 * keeps the elements of written resources that have no column.
 */
export async function enableResourceHistory(knex: Knex, { table, resourceType, children = [] }: ResourceHistory): Promise<void> {
  await knex.raw(`alter table ${table} add column fhir_residual jsonb`);
  const args = [resourceType, ...children.map((c) => `${c.table}:${c.foreignKey}`)].map((a) => `'${a}'`).join(', ');
  await knex.raw(`create constraint trigger ${table}_record_version after insert or update or delete on ${table}
    deferrable initially deferred for each row execute function cusp_record_version(${args})`);
  for (const child of children) {
    await knex.raw(`create trigger ${child.table}_touch_${table} after insert or update or delete on ${child.table}
      for each row execute function cusp_touch_parent('${table}', '${child.foreignKey}')`);
  }
}
