// History, writes and search for the FHIR Practitioner and Organization mappings
// (src/fhir/mappings/practitioner.ts, organization.ts), whose rows are not plain tenant rows.
//
// Practitioner: a clinician member of the tenant. The person is a global users row (name,
// email, language: shared by every tenant the user belongs to), the membership a user_tenants
// row (clinician type, NPI, active). The resource id is the user's id.
// - fhir_practitioner_rows joins the two for every tenant; fhir_practitioners is the caller's
//   tenant's part, what the FHIR engine reads and writes: INSTEAD OF triggers write the two
//   tables (as the caller, under their row-level security).
// - The membership row carries the version and the residual. A change of the users row
//   touches every membership of the user, so each tenant that sees the practitioner records a
//   version; a membership that is deleted, or whose user_type stops being a clinician's,
//   records a deletion.
// - A practitioner still named by the tenant's rows (encounters, procedures, roles, …) cannot
//   be deleted: the delete trigger raises the foreign-key error the engine reports as 409.
//
// Organization: the tenant itself, its parent and its children (tenants, read-only through
// FHIR: the admin API manages them) and the tenant's payers.
// - A change of a tenant is recorded in the change log of every tenant that sees it: itself,
//   its parent and its children; a tenant that comes under a parent records the parent as it is.
// - fhir_organizations is what search reads: the related tenants and the caller's payers.
//
// Views run with their owner's rights (as in 014), so each filters on cusp_tenant_id() itself.
// The functions that write other tenants' change logs run as cusp_platform (security definer).
import type { Knex } from 'knex';
import { PLATFORM_ROLE, TENANT_ROLE, enableResourceHistory } from './_schema.ts';
import { userReferences } from './015_user_membership.ts';

/** user_tenants.user_type values that are clinicians: mapped to NUCC taxonomy codes in practitioner.ts. */
const CLINICIAN_TYPES = ['DENTIST', 'HYGIENIST', 'ASSISTANT'];

/** tenants.type → http://terminology.hl7.org/CodeSystem/organization-type, as organization.ts renders it. */
const TENANT_ORGANIZATION_TYPE: Record<string, string> = {
  SOLO_PRACTICE: 'prov', GROUP_PRACTICE: 'prov', DSO: 'prov', ACADEMIC: 'edu', PAYER: 'pay', REGULATOR: 'govt', AI_VENDOR: 'bus', OTHER: 'other',
};

const PLATFORM_FUNCTIONS = ['cusp_record_practitioner_version()', 'cusp_touch_user_memberships()', 'cusp_record_tenant_organization()'];

const tenantSnapshot = (alias: string) => `to_jsonb(${alias}) || jsonb_build_object('_children', '{}'::jsonb, '_source', 'tenants')`;

export async function up(knex: Knex): Promise<void> {
  await practitioners(knex);
  await organizations(knex);

  // Owned by cusp_platform, whose policies reach every tenant's rows (the owner of the schema
  // may itself be subject to row-level security). Owning needs CREATE on the schema, for a moment.
  await knex.raw(`do $$ begin execute format('grant create on schema %I to ${PLATFORM_ROLE}', current_schema()); end $$`);
  for (const fn of PLATFORM_FUNCTIONS) await knex.raw(`alter function ${fn} owner to ${PLATFORM_ROLE}`);
  await knex.raw(`do $$ begin execute format('revoke create on schema %I from ${PLATFORM_ROLE}', current_schema()); end $$`);

  // Rows already there become versions at commit.
  await knex.raw('update tenants set version_id = version_id');
  await knex.raw('update user_tenants set version_id = version_id');
  await knex.raw('update payers set version_id = version_id');
}

async function practitioners(knex: Knex): Promise<void> {
  await knex.raw('alter table user_tenants add column fhir_residual jsonb');
  await knex.raw(`create view fhir_practitioner_rows as
    select m.user_id as id, m.tenant_id, m.version_id, m.last_updated, m.fhir_residual,
           m.user_type, m.npi, m.active, u.email, u.full_name, u.preferred_locale
    from user_tenants m join users u on u.id = m.user_id
    where m.user_type in (${CLINICIAN_TYPES.map((type) => `'${type}'`).join(', ')})`);
  await knex.raw('create view fhir_practitioners as select * from fhir_practitioner_rows where tenant_id = cusp_tenant_id()');
  await knex.raw(`grant select, insert, update, delete on fhir_practitioners to ${TENANT_ROLE}, ${PLATFORM_ROLE}`);
  await knex.raw(`grant select on fhir_practitioner_rows to ${PLATFORM_ROLE}`);
  await knex.raw('create index users_fold_full_name_idx on users (cusp_fold(full_name) text_pattern_ops)');

  const stillNamed = (await userReferences(knex)).map(({ table, column }) =>
    `if exists (select 1 from ${table} where tenant_id = old.tenant_id and ${column} = old.id) then
       raise exception 'Practitioner/% is still named by ${table}.${column}', old.id using errcode = '23503', table = '${table}';
     end if;`).join('\n');
  await knex.raw(`create function cusp_write_practitioner() returns trigger language plpgsql as $$
    begin
      if tg_op = 'INSERT' then
        insert into users (id, email, full_name, preferred_locale) values (new.id, new.email, new.full_name, new.preferred_locale);
        insert into user_tenants (tenant_id, user_id, user_type, npi, active, fhir_residual, version_id)
        values (new.tenant_id, new.id, new.user_type, new.npi, coalesce(new.active, true), new.fhir_residual, coalesce(new.version_id, 1));
        return new;
      elsif tg_op = 'UPDATE' then
        update user_tenants set user_type = new.user_type, npi = new.npi, active = new.active, fhir_residual = new.fhir_residual
        where tenant_id = old.tenant_id and user_id = old.id;
        update users set email = new.email, full_name = new.full_name, preferred_locale = new.preferred_locale
        where id = old.id and (email, full_name, preferred_locale) is distinct from (new.email, new.full_name, new.preferred_locale);
        return new;
      end if;
      ${stillNamed}
      delete from user_tenants where tenant_id = old.tenant_id and user_id = old.id;
      return old;
    end
  $$`);
  await knex.raw(`create trigger fhir_practitioners_write instead of insert or update or delete on fhir_practitioners
    for each row execute function cusp_write_practitioner()`);

  await knex.raw(`create function cusp_record_practitioner_version() returns trigger language plpgsql
    security definer set search_path from current as $$
    declare
      member user_tenants;
      snapshot jsonb;
      last resource_versions;
    begin
      if tg_op = 'DELETE' then member := old; else member := new; end if;
      select to_jsonb(p) || jsonb_build_object('_children', '{}'::jsonb) into snapshot
      from fhir_practitioner_rows p where p.tenant_id = member.tenant_id and p.id = member.user_id;
      if snapshot is not null then
        insert into resource_versions (tenant_id, resource_type, resource_id, version_id, last_updated, operation, snapshot)
        values (member.tenant_id, 'Practitioner', member.user_id, (snapshot ->> 'version_id')::bigint, (snapshot ->> 'last_updated')::timestamptz,
                case when tg_op = 'INSERT' then 'create' else 'update' end, snapshot)
        on conflict (tenant_id, resource_type, resource_id, version_id) do nothing;
        return null;
      end if;
      -- No longer a practitioner of this tenant: a deletion, if it ever was one.
      select * into last from resource_versions v
      where v.tenant_id = member.tenant_id and v.resource_type = 'Practitioner' and v.resource_id = member.user_id
      order by v.version_id desc limit 1;
      if found and last.operation <> 'delete' then
        insert into resource_versions (tenant_id, resource_type, resource_id, version_id, last_updated, operation, snapshot)
        values (member.tenant_id, 'Practitioner', member.user_id, greatest(member.version_id, last.version_id + 1), now(), 'delete', null)
        on conflict (tenant_id, resource_type, resource_id, version_id) do nothing;
      end if;
      return null;
    end
  $$`);
  await knex.raw(`create constraint trigger user_tenants_record_practitioner after insert or update or delete on user_tenants
    deferrable initially deferred for each row execute function cusp_record_practitioner_version()`);

  await knex.raw(`create function cusp_touch_user_memberships() returns trigger language plpgsql
    security definer set search_path from current as $$
    begin
      update user_tenants set version_id = version_id where user_id = new.id and version_txid <> txid_current();
      return null;
    end
  $$`);
  await knex.raw(`create trigger users_touch_memberships after update on users for each row
    when ((old.email, old.full_name, old.preferred_locale) is distinct from (new.email, new.full_name, new.preferred_locale))
    execute function cusp_touch_user_memberships()`);
}

async function organizations(knex: Knex): Promise<void> {
  await enableResourceHistory(knex, { table: 'payers', resourceType: 'Organization' });
  await knex.raw('create index payers_fold_name_idx on payers (tenant_id, cusp_fold(name) text_pattern_ops)');

  await knex.raw(`create function cusp_record_tenant_organization() returns trigger language plpgsql
    security definer set search_path from current as $$
    declare
      organization jsonb;
      viewer uuid;
    begin
      select ${tenantSnapshot('t')} into organization from tenants t where t.id = new.id;
      for viewer in
        select new.id
        union select t.parent_tenant_id from tenants t where t.id = new.id and t.parent_tenant_id is not null
        union select c.id from tenants c where c.parent_tenant_id = new.id
      loop
        insert into resource_versions (tenant_id, resource_type, resource_id, version_id, last_updated, operation, snapshot)
        values (viewer, 'Organization', new.id, (organization ->> 'version_id')::bigint, (organization ->> 'last_updated')::timestamptz,
                case when tg_op = 'INSERT' then 'create' else 'update' end, organization)
        on conflict (tenant_id, resource_type, resource_id, version_id) do nothing;
      end loop;
      -- A tenant that has come under a parent sees the parent as it now is.
      insert into resource_versions (tenant_id, resource_type, resource_id, version_id, last_updated, operation, snapshot)
      select new.id, 'Organization', p.id, p.version_id, p.last_updated, 'update', ${tenantSnapshot('p')}
      from tenants p where p.id = (organization ->> 'parent_tenant_id')::uuid
      on conflict (tenant_id, resource_type, resource_id, version_id) do nothing;
      return null;
    end
  $$`);
  await knex.raw(`create constraint trigger tenants_record_organization after insert or update on tenants
    deferrable initially deferred for each row execute function cusp_record_tenant_organization()`);

  const organizationType = `case t.type ${Object.entries(TENANT_ORGANIZATION_TYPE).map(([type, code]) => `when '${type}' then '${code}'`).join(' ')} end`;
  await knex.raw(`create view fhir_organizations as
    select t.id, cusp_tenant_id() as tenant_id, t.version_id, t.last_updated, null::timestamptz as deleted_at, 'tenants'::text as source_table,
           t.name, ${organizationType} as fhir_type, t.status = 'ACTIVE' as active, null::text as payer_code, t.parent_tenant_id,
           null::jsonb as fhir_residual
    from tenants t
    where t.id = cusp_tenant_id() or t.parent_tenant_id = cusp_tenant_id()
       or t.id = (select own.parent_tenant_id from tenants own where own.id = cusp_tenant_id())
    union all
    select p.id, p.tenant_id, p.version_id, p.last_updated, null::timestamptz, 'payers'::text,
           p.name, 'pay'::text, p.active, p.payer_code, null::uuid, p.fhir_residual
    from payers p where p.tenant_id = cusp_tenant_id()`);
  await knex.raw(`grant select on fhir_organizations to ${TENANT_ROLE}, ${PLATFORM_ROLE}`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop view if exists fhir_organizations');
  await knex.raw('drop trigger if exists tenants_record_organization on tenants');
  await knex.raw('drop function if exists cusp_record_tenant_organization()');
  await knex.raw('drop index if exists payers_fold_name_idx');
  await knex.raw('drop trigger if exists payers_record_version on payers');
  await knex.raw('alter table payers drop column if exists fhir_residual');
  await knex.raw('drop trigger if exists users_touch_memberships on users');
  await knex.raw('drop function if exists cusp_touch_user_memberships()');
  await knex.raw('drop trigger if exists user_tenants_record_practitioner on user_tenants');
  await knex.raw('drop function if exists cusp_record_practitioner_version()');
  await knex.raw('drop view if exists fhir_practitioners');
  await knex.raw('drop function if exists cusp_write_practitioner()');
  await knex.raw('drop view if exists fhir_practitioner_rows');
  await knex.raw('drop index if exists users_fold_full_name_idx');
  await knex.raw('alter table user_tenants drop column if exists fhir_residual');
}
