// FHIR versions and the change log (https://hl7.org/fhir/R4/http.html#history).
//
// - All changes a transaction makes to one resource are one version: cusp_bump_version
//   increments version_id only on the transaction's first change (version_txid remembers it).
// - A change to a child row (an identifier, an address) is a change of its resource:
//   cusp_touch_parent updates the parent row, which bumps its version.
// - At commit, a deferred constraint trigger (cusp_record_version) stores the resource's rows
//   as they are then — the main row and its children — in resource_versions. That table is
//   the change log: it serves vread and history, feeds _since, subscriptions and bulk export,
//   and records deletions (so a read of a deleted resource is 410). Plain SQL from other
//   writers goes through the same triggers, so it yields versions too.
import type { Knex } from 'knex';
import { PLATFORM_ROLE, TENANT_ROLE } from './_schema.ts';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('resource_versions', (t) => {
    t.bigIncrements('seq', { primaryKey: false }).comment('order in which versions were recorded');
    t.uuid('tenant_id').notNullable().references('id').inTable('tenants');
    t.text('resource_type').notNullable();
    t.uuid('resource_id').notNullable();
    t.bigInteger('version_id').notNullable();
    t.timestamp('last_updated', { useTz: true }).notNullable();
    t.enu('operation', ['create', 'update', 'delete']).notNullable();
    t.jsonb('snapshot').comment('the rows of the resource at this version: the main row, children under "_children"; null for delete');
    t.primary(['tenant_id', 'seq']);
    t.unique(['tenant_id', 'resource_type', 'resource_id', 'version_id']);
  });
  await knex.raw('create index resource_versions_tenant_time_idx on resource_versions (tenant_id, last_updated)');
  await knex.raw('create index resource_versions_type_time_idx on resource_versions (tenant_id, resource_type, last_updated)');
  await knex.raw('alter table resource_versions enable row level security');
  await knex.raw('alter table resource_versions force row level security');
  await knex.raw(`create policy resource_versions_tenant_read on resource_versions for select to ${TENANT_ROLE} using (tenant_id = cusp_tenant_id())`);
  await knex.raw(`create policy resource_versions_tenant_append on resource_versions for insert to ${TENANT_ROLE} with check (tenant_id = cusp_tenant_id())`);
  await knex.raw(`create policy resource_versions_platform on resource_versions to ${PLATFORM_ROLE} using (true) with check (true)`);
  await knex.raw(`grant select, insert on resource_versions to ${TENANT_ROLE}, ${PLATFORM_ROLE}`);
  await knex.raw(`grant usage on sequence resource_versions_seq_seq to ${TENANT_ROLE}, ${PLATFORM_ROLE}`);
  await knex.raw('create trigger resource_versions_append_only before update or delete on resource_versions for each row execute function cusp_reject_change()');

  // Every versioned table learns which transaction made its current version.
  const { rows } = await knex.raw<{ rows: { table_name: string }[] }>(`
    select table_name from information_schema.columns
    where table_schema = current_schema() and column_name = 'version_id' order by table_name`);
  for (const { table_name: table } of rows) {
    await knex.raw(`alter table ${table} add column version_txid bigint not null default txid_current()`);
  }

  await knex.raw(`create or replace function cusp_bump_version() returns trigger language plpgsql as $$
    begin
      if old.version_txid = txid_current() then
        new.version_id := old.version_id;
      else
        new.version_id := old.version_id + 1;
        new.version_txid := txid_current();
      end if;
      new.last_updated := now();
      return new;
    end
  $$`);

  // Arguments: parent table, foreign key column in the child.
  await knex.raw(`create function cusp_touch_parent() returns trigger language plpgsql as $$
    declare
      -- A parent this transaction already changed gets its snapshot at commit anyway: leave it.
      touch text := format('update %I set version_id = version_id where tenant_id = $1 and id = $2 and version_txid <> txid_current()', tg_argv[0]);
    begin
      if tg_op in ('UPDATE', 'DELETE') then
        execute touch using old.tenant_id, (to_jsonb(old) ->> tg_argv[1])::uuid;
      end if;
      if tg_op = 'INSERT' or (tg_op = 'UPDATE' and (to_jsonb(old) ->> tg_argv[1]) is distinct from (to_jsonb(new) ->> tg_argv[1])) then
        execute touch using new.tenant_id, (to_jsonb(new) ->> tg_argv[1])::uuid;
      end if;
      return null;
    end
  $$`);

  // The rows of one resource as JSON: the main row, and under "_children" the rows of each
  // "child_table:foreign_key". Used by the history trigger and by the FHIR engine.
  await knex.raw(`create function cusp_resource_snapshot(main_table text, tenant uuid, resource_id uuid, children text[]) returns jsonb
    language plpgsql stable as $$
    declare
      snapshot jsonb;
      grouped jsonb := '{}';
      child_rows jsonb;
      child text;
    begin
      execute format('select to_jsonb(r) from %I r where r.tenant_id = $1 and r.id = $2', main_table) into snapshot using tenant, resource_id;
      if snapshot is null then
        return null;
      end if;
      foreach child in array children loop
        execute format('select coalesce(jsonb_agg(to_jsonb(c) order by c.id), ''[]'') from %I c where c.tenant_id = $1 and c.%I = $2',
                       split_part(child, ':', 1), split_part(child, ':', 2))
          into child_rows using tenant, resource_id;
        grouped := grouped || jsonb_build_object(split_part(child, ':', 1), child_rows);
      end loop;
      return snapshot || jsonb_build_object('_children', grouped);
    end
  $$`);

  // Arguments: resource type, then "child_table:foreign_key" for each child table.
  await knex.raw(`create function cusp_record_version() returns trigger language plpgsql as $$
    declare
      snapshot jsonb;
      deleted boolean;
    begin
      if tg_op = 'DELETE' then
        insert into resource_versions (tenant_id, resource_type, resource_id, version_id, last_updated, operation, snapshot)
        values (old.tenant_id, tg_argv[0], old.id, old.version_id + 1, now(), 'delete', null)
        on conflict (tenant_id, resource_type, resource_id, version_id) do nothing;
        return null;
      end if;
      -- Several events of one transaction are one version: the first records it, at commit.
      if exists (select 1 from resource_versions v where v.tenant_id = new.tenant_id and v.resource_type = tg_argv[0]
                 and v.resource_id = new.id and v.version_id = new.version_id) then
        return null;
      end if;
      -- Deferred to commit: record the resource as the transaction leaves it.
      snapshot := cusp_resource_snapshot(tg_table_name, new.tenant_id, new.id, tg_argv[1:]);
      if snapshot is null then
        return null; -- deleted later in the same transaction; its delete event records that
      end if;
      deleted := snapshot ->> 'deleted_at' is not null;
      insert into resource_versions (tenant_id, resource_type, resource_id, version_id, last_updated, operation, snapshot)
      values (new.tenant_id, tg_argv[0], new.id, (snapshot ->> 'version_id')::bigint, (snapshot ->> 'last_updated')::timestamptz,
              case when deleted then 'delete' when tg_op = 'INSERT' then 'create' else 'update' end,
              case when deleted then null else snapshot end)
      on conflict (tenant_id, resource_type, resource_id, version_id) do nothing;
      return null;
    end
  $$`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop function if exists cusp_record_version() cascade');
  await knex.raw('drop function if exists cusp_resource_snapshot(text, uuid, uuid, text[])');
  await knex.raw('drop function if exists cusp_touch_parent() cascade');
  const { rows } = await knex.raw<{ rows: { table_name: string }[] }>(`
    select table_name from information_schema.columns where table_schema = current_schema() and column_name = 'version_txid'`);
  for (const { table_name: table } of rows) await knex.raw(`alter table ${table} drop column version_txid`);
  await knex.raw(`create or replace function cusp_bump_version() returns trigger language plpgsql as $$
    begin new.version_id := old.version_id + 1; new.last_updated := clock_timestamp(); return new; end
  $$`);
  await knex.schema.dropTableIfExists('resource_versions');
}
