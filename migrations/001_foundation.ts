// Roles, tenancy functions and triggers, and the platform tables the server itself needs:
// tenants, api_clients, audit_events (section I–II of the schema), DICOM nodes, token signing keys,
// client-assertion replay records and shared rate-limit windows.
import type { Knex } from 'knex';
import { PLATFORM_ROLE, TENANT_ROLE, createTenantTable, dropTables, enableTenantIsolation } from './_schema.ts';

const TENANT_TYPES = ['SOLO_PRACTICE', 'GROUP_PRACTICE', 'DSO', 'ACADEMIC', 'PAYER', 'REGULATOR', 'AI_VENDOR', 'OTHER'];

export async function up(knex: Knex): Promise<void> {
  // Roles are cluster-wide: create them once, whatever database this is.
  for (const role of [TENANT_ROLE, PLATFORM_ROLE]) {
    await knex.raw(`do $$ begin
      if not exists (select from pg_roles where rolname = '${role}') then create role ${role} nologin nobypassrls; end if;
    end $$`);
    // The connecting role switches to these with SET LOCAL ROLE, so it must be a member.
    await knex.raw(`do $$ begin
      if not exists (select from pg_auth_members m join pg_roles r on r.oid = m.roleid
                     where r.rolname = '${role}' and m.member = (select oid from pg_roles where rolname = current_user))
         and not (select rolsuper from pg_roles where rolname = current_user)
      then execute format('grant ${role} to %I', current_user); end if;
    end $$`);
  }
  await knex.raw(`grant usage on schema public to ${TENANT_ROLE}, ${PLATFORM_ROLE}`);

  await knex.raw(`create function cusp_tenant_id() returns uuid language sql stable as $$
    select nullif(current_setting('cusp.tenant_id', true), '')::uuid
  $$`);
  await knex.raw(`create function cusp_set_updated_at() returns trigger language plpgsql as $$
    begin new.updated_at := now(); return new; end
  $$`);
  // Any writer's UPDATE (the server or plain SQL from elsewhere) yields a new FHIR version.
  await knex.raw(`create function cusp_bump_version() returns trigger language plpgsql as $$
    begin new.version_id := old.version_id + 1; new.last_updated := clock_timestamp(); return new; end
  $$`);
  await knex.raw(`create function cusp_reject_change() returns trigger language plpgsql as $$
    begin raise exception '% is append-only: % is not allowed', tg_table_name, tg_op using errcode = '42501'; end
  $$`);

  await knex.schema.createTable('tenants', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.text('name').notNullable();
    t.enu('type', TENANT_TYPES).notNullable().defaultTo('OTHER');
    t.uuid('parent_tenant_id').references('id').inTable('tenants').index();
    t.text('primary_region');
    t.enu('partition_strategy', ['ROW_LEVEL', 'SCHEMA', 'DATABASE']).notNullable().defaultTo('ROW_LEVEL');
    t.enu('status', ['ACTIVE', 'SUSPENDED', 'CLOSED']).notNullable().defaultTo('ACTIVE');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.bigInteger('version_id').notNullable().defaultTo(1);
    t.timestamp('last_updated', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await enableTenantIsolation(knex, 'tenants', 'id');
  await knex.raw('create trigger tenants_updated_at before update on tenants for each row execute function cusp_set_updated_at()');
  await knex.raw('create trigger tenants_version before update on tenants for each row execute function cusp_bump_version()');

  // client_id is the OAuth identifier a client presents before any tenant is known, so it is
  // unique across the platform (the one business key that cannot include tenant_id).
  await createTenantTable(knex, 'api_clients', (t) => {
    t.text('client_id').notNullable().unique();
    t.text('name').notNullable();
    t.text('description');
    t.text('client_secret_hash');
    t.jsonb('scopes').notNullable().defaultTo('[]');
    t.integer('rate_limit_per_minute');
    t.jsonb('ip_allowlist');
    t.jsonb('jwks');
    t.text('jwks_uri');
    t.enu('status', ['ACTIVE', 'DISABLED']).notNullable().defaultTo('ACTIVE');
    // The platform tables below refer to a client by id alone.
    t.unique(['id']);
  }, { timestamps: true });

  // DIMSE peers (imaging devices, PACS) a tenant accepts associations from and sends to.
  await createTenantTable(knex, 'dicom_nodes', (t) => {
    t.text('ae_title').notNullable();
    t.text('host');
    t.integer('port');
    t.text('description');
    t.unique(['tenant_id', 'ae_title']);
  }, { timestamps: true });

  // Append-only: no UPDATE, DELETE or TRUNCATE, by grant and by trigger. tenant_id is null only
  // for events that no tenant can be attributed to (a token request from an unknown client).
  await knex.schema.createTable('audit_events', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.uuid('tenant_id').references('id').inTable('tenants');
    t.uuid('user_id').comment('users.id; foreign key added with the users table');
    t.enu('actor_type', ['USER', 'SYSTEM', 'API_CLIENT']).notNullable();
    t.uuid('actor_id').comment('api_clients.id for API_CLIENT');
    t.text('event_type').notNullable();
    t.text('resource_type');
    t.text('resource_id');
    t.timestamp('timestamp', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.text('request_id');
    t.specificType('ip_address', 'inet');
    t.text('user_agent');
    t.enu('outcome', ['SUCCESS', 'FAILURE']).notNullable();
    t.jsonb('metadata');
  });
  await knex.raw('create index audit_events_tenant_time_idx on audit_events (tenant_id, "timestamp")');
  await knex.raw('create index audit_events_resource_idx on audit_events (tenant_id, resource_type, resource_id)');
  await knex.raw('create index audit_events_actor_idx on audit_events (actor_id)');
  await knex.raw('create index audit_events_user_idx on audit_events (user_id)');
  await knex.raw('alter table audit_events enable row level security');
  await knex.raw('alter table audit_events force row level security');
  await knex.raw(`create policy audit_events_tenant_read on audit_events for select to ${TENANT_ROLE} using (tenant_id = cusp_tenant_id())`);
  await knex.raw(`create policy audit_events_tenant_append on audit_events for insert to ${TENANT_ROLE} with check (tenant_id = cusp_tenant_id())`);
  await knex.raw(`create policy audit_events_platform_read on audit_events for select to ${PLATFORM_ROLE} using (true)`);
  await knex.raw(`create policy audit_events_platform_append on audit_events for insert to ${PLATFORM_ROLE} with check (true)`);
  await knex.raw(`grant select, insert on audit_events to ${TENANT_ROLE}, ${PLATFORM_ROLE}`);
  await knex.raw('create trigger audit_events_append_only before update or delete on audit_events for each row execute function cusp_reject_change()');
  await knex.raw('create trigger audit_events_no_truncate before truncate on audit_events for each statement execute function cusp_reject_change()');

  // Server-internal tables (no PHI, no tenant): reachable by the platform role only.
  await knex.schema.createTable('signing_keys', (t) => {
    t.text('kid').primary();
    t.text('algorithm').notNullable();
    t.jsonb('private_jwk').notNullable();
    t.jsonb('public_jwk').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('retired_at', { useTz: true });
  });
  await knex.schema.createTable('client_assertion_jtis', (t) => {
    t.uuid('client_id').notNullable().references('id').inTable('api_clients').onDelete('CASCADE');
    t.text('jti').notNullable();
    t.timestamp('expires_at', { useTz: true }).notNullable().index();
    t.primary(['client_id', 'jti']);
  });
  await knex.schema.createTable('rate_limit_windows', (t) => {
    t.uuid('client_id').notNullable().references('id').inTable('api_clients').onDelete('CASCADE');
    t.timestamp('window_start', { useTz: true }).notNullable().index();
    t.bigInteger('request_count').notNullable().defaultTo(0);
    t.primary(['client_id', 'window_start']);
  });
  for (const table of ['signing_keys', 'client_assertion_jtis', 'rate_limit_windows']) {
    await knex.raw(`grant select, insert, update, delete on ${table} to ${PLATFORM_ROLE}`);
  }
}

export async function down(knex: Knex): Promise<void> {
  await dropTables(knex, ['tenants', 'api_clients', 'dicom_nodes', 'audit_events', 'signing_keys', 'client_assertion_jtis', 'rate_limit_windows']);
  for (const fn of ['cusp_reject_change', 'cusp_bump_version', 'cusp_set_updated_at', 'cusp_tenant_id']) {
    await knex.raw(`drop function if exists ${fn}()`);
  }
}
