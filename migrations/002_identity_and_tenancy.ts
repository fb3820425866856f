// Sections I and II of the primary schema (seed 000), apart from what 001 already made
// (tenants, api_clients, audit_events): global identities and catalogues (users,
// user_auth_identities, permissions, subscription_plans), tenant configuration and
// organisation (settings, branding, subscriptions, features, quotas, locations, teams),
// membership and access control (user_tenants, roles, role_permissions, user_roles) and sessions.
import type { Knex } from 'knex';
import {
  PLATFORM_ROLE, TENANT_ROLE, createGlobalTable, createTenantTable, dropTables, enableSharedTenantIsolation,
  globalRef, tenantRef,
} from './_schema.ts';

const USER_TYPES = ['DENTIST', 'HYGIENIST', 'ASSISTANT', 'ADMIN', 'FRONT_DESK', 'PATIENT', 'PAYER_ANALYST', 'REGULATOR', 'DEVELOPER'];

const TABLES = [
  'users', 'user_auth_identities', 'permissions', 'subscription_plans',
  'tenant_settings', 'tenant_branding', 'tenant_subscriptions', 'tenant_features', 'tenant_quotas',
  'locations', 'teams', 'team_members', 'user_tenants', 'roles', 'role_permissions', 'user_roles', 'sessions',
];

// A user row is visible to a tenant only while the user is a member of that tenant.
const USER_IS_MEMBER = (userIdColumn: string) =>
  `exists (select 1 from user_tenants ut where ut.user_id = ${userIdColumn} and ut.tenant_id = cusp_tenant_id())`;

export async function up(knex: Knex): Promise<void> {
  // ---- I.1 / II.1: global identities and catalogues -------------------------------------
  // Global: one identity may belong to several tenants (through user_tenants). Backs the FHIR
  // Practitioner resource, hence versioned.
  await createGlobalTable(knex, 'users', (t) => {
    t.text('email').notNullable().comment('unique case-insensitively (users_email_lower_key)');
    t.text('full_name');
    t.text('preferred_locale');
    t.enu('status', ['ACTIVE', 'INVITED', 'DISABLED']).notNullable().defaultTo('ACTIVE');
    t.timestamp('last_login_at', { useTz: true });
  }, { timestamps: true, versioned: true });
  await knex.raw('create unique index users_email_lower_key on users (lower(email))');

  // 001 left audit_events.user_id without a foreign key (users did not exist yet); its index
  // audit_events_user_idx is already there.
  await knex.raw('alter table audit_events add constraint audit_events_user_id_foreign foreign key (user_id) references users (id)');

  // Authentication methods of a user: password hash, SSO (OIDC/SAML) or OAuth subject, MFA.
  await createGlobalTable(knex, 'user_auth_identities', (t) => {
    globalRef(t, 'user_id', 'users', { nullable: false, onDelete: 'CASCADE' });
    t.enu('provider', ['PASSWORD', 'OIDC', 'SAML', 'OAUTH']).notNullable();
    t.text('issuer').comment('IdP issuer / entity id for OIDC, SAML and OAuth; null for PASSWORD');
    t.text('subject').notNullable().comment('subject at the issuer; the login name (lower-cased email) for PASSWORD');
    t.text('password_hash').comment('bcrypt/scrypt hash; never the plain password');
    t.boolean('mfa_enabled').notNullable().defaultTo(false);
    t.enu('mfa_type', ['TOTP', 'WEBAUTHN', 'SMS']);
    t.text('mfa_secret_encrypted').comment('KMS-encrypted TOTP secret');
    t.jsonb('recovery_codes').comment('hashes of single-use recovery codes');
    t.timestamp('last_used_at', { useTz: true });
  }, { timestamps: true });
  await knex.raw(`create unique index user_auth_identities_subject_key
    on user_auth_identities (provider, coalesce(issuer, ''), subject)`);

  await createGlobalTable(knex, 'permissions', (t) => {
    t.text('key').notNullable().unique().comment('e.g. view_patient, edit_patient, view_imaging, run_ai_analysis, manage_billing');
    t.text('description');
    t.text('category');
  }, { timestamps: true });

  // Section VI's `billing_plans` is an alias of this table, not a second one.
  await createGlobalTable(knex, 'subscription_plans', (t) => {
    t.text('code').notNullable().unique().comment('e.g. BASIC, PRO, ENTERPRISE, RESEARCH');
    t.text('name').notNullable();
    t.text('description');
    t.text('currency').notNullable().defaultTo('USD');
    t.decimal('price_monthly', 12, 2);
    t.decimal('price_yearly', 12, 2);
    t.integer('included_ai_calls');
    t.integer('included_seats');
    t.bigInteger('included_storage_bytes');
    t.jsonb('features').notNullable().defaultTo('{}');
    t.boolean('is_active').notNullable().defaultTo(true);
  }, { timestamps: true });

  // ---- I.1: tenant configuration ------------------------------------------------------
  await createTenantTable(knex, 'tenant_settings', (t) => {
    t.text('data_residency_region');
    t.jsonb('default_retention_policies').comment('defaults; per data class rows live in data_retention_policies');
    t.text('default_locale');
    t.text('default_timezone');
    t.text('default_currency');
    t.jsonb('clinical_workflow_options').notNullable().defaultTo('{}');
    t.jsonb('settings').notNullable().defaultTo('{}');
    t.unique(['tenant_id']);
  }, { timestamps: true });

  await createTenantTable(knex, 'tenant_branding', (t) => {
    t.text('logo_uri');
    t.text('primary_color');
    t.text('secondary_color');
    t.text('custom_domain');
    t.jsonb('email_templates').notNullable().defaultTo('{}');
    t.jsonb('theme').notNullable().defaultTo('{}');
    t.unique(['tenant_id']);
  }, { timestamps: true });

  await createTenantTable(knex, 'tenant_subscriptions', (t) => {
    globalRef(t, 'plan_id', 'subscription_plans', { nullable: false });
    t.timestamp('start_at', { useTz: true }).notNullable();
    t.timestamp('end_at', { useTz: true });
    t.text('status').notNullable().comment('e.g. TRIALING, ACTIVE, PAST_DUE, CANCELLED, EXPIRED');
    t.text('billing_cycle').comment('e.g. MONTHLY, YEARLY');
    t.boolean('is_trial').notNullable().defaultTo(false);
    t.timestamp('trial_ends_at', { useTz: true });
    t.boolean('auto_renew').notNullable().defaultTo(true);
  }, { timestamps: true });

  await createTenantTable(knex, 'tenant_features', (t) => {
    t.text('feature_key').notNullable().comment('e.g. AI_DIAGNOSTICS, ORTHO_PLANNING, IMPLANT_PLANNING, FEDERATED_LEARNING');
    t.boolean('enabled').notNullable().defaultTo(true);
    t.jsonb('config');
    t.unique(['tenant_id', 'feature_key']);
  }, { timestamps: true });

  await createTenantTable(knex, 'tenant_quotas', (t) => {
    t.integer('max_users');
    t.bigInteger('max_storage_bytes');
    t.integer('max_ai_inferences_per_month');
    t.integer('api_rate_limit_per_minute');
    t.integer('max_locations');
    t.jsonb('other_limits');
    t.unique(['tenant_id']);
  }, { timestamps: true });

  // ---- I.2: locations and organisational units ------------------------------------------
  // Backs FHIR Location. Seed 003's ClinicLocation is this table.
  await createTenantTable(knex, 'locations', (t) => {
    t.text('name').notNullable();
    t.text('type').comment('e.g. CLINIC, TEACHING_CLINIC, RESEARCH_UNIT, VIRTUAL');
    t.jsonb('address');
    t.text('timezone');
    t.text('phone');
    t.text('email');
    t.boolean('active').notNullable().defaultTo(true);
  }, { timestamps: true, versioned: true });

  await createTenantTable(knex, 'teams', (t) => {
    t.text('name').notNullable();
    t.text('description');
    t.text('team_type').comment('e.g. HYGIENE, PERIO, RESEARCH');
    tenantRef(t, 'location_id', 'locations');
    t.unique(['tenant_id', 'name']);
  }, { timestamps: true });

  await createTenantTable(knex, 'team_members', (t) => {
    tenantRef(t, 'team_id', 'teams', { nullable: false, onDelete: 'CASCADE' });
    globalRef(t, 'user_id', 'users', { nullable: false });
    tenantRef(t, 'location_id', 'locations');
    t.text('member_role');
    t.unique(['tenant_id', 'team_id', 'user_id']);
  }, { timestamps: true });

  // ---- II.1: membership, roles and permissions -----------------------------------------
  // Backs FHIR PractitionerRole (a user's role in one tenant), hence versioned.
  await createTenantTable(knex, 'user_tenants', (t) => {
    globalRef(t, 'user_id', 'users', { nullable: false });
    tenantRef(t, 'default_location_id', 'locations');
    t.enu('user_type', USER_TYPES).notNullable();
    t.text('npi').comment('US National Provider Identifier, for clinicians');
    t.boolean('active').notNullable().defaultTo(true);
    t.unique(['tenant_id', 'user_id']);
  }, { timestamps: true, versioned: true });

  // users: global, but a tenant sees (and changes) only its members. Anyone may create a user
  // (then adds the membership); the platform role sees everything.
  await knex.raw('alter table users enable row level security');
  await knex.raw('alter table users force row level security');
  await knex.raw(`create policy users_member_read on users for select to ${TENANT_ROLE} using (${USER_IS_MEMBER('users.id')})`);
  await knex.raw(`create policy users_member_update on users for update to ${TENANT_ROLE} using (${USER_IS_MEMBER('users.id')})`);
  await knex.raw(`create policy users_member_delete on users for delete to ${TENANT_ROLE} using (${USER_IS_MEMBER('users.id')})`);
  await knex.raw(`create policy users_insert on users for insert to ${TENANT_ROLE} with check (true)`);
  await knex.raw(`create policy users_platform_access on users to ${PLATFORM_ROLE} using (true) with check (true)`);
  // Credentials are more sensitive still: a tenant reaches only its members' identities, for
  // every command (otherwise it could attach a login to another tenant's user).
  await knex.raw('alter table user_auth_identities enable row level security');
  await knex.raw('alter table user_auth_identities force row level security');
  await knex.raw(`create policy user_auth_identities_member_access on user_auth_identities to ${TENANT_ROLE}
    using (${USER_IS_MEMBER('user_auth_identities.user_id')}) with check (${USER_IS_MEMBER('user_auth_identities.user_id')})`);
  await knex.raw(`create policy user_auth_identities_platform_access on user_auth_identities to ${PLATFORM_ROLE} using (true) with check (true)`);

  // Role templates: global (tenant_id null, e.g. TENANT_ADMIN, CLINICIAN, READ_ONLY_AUDITOR,
  // DATA_SCIENTIST) or defined by one tenant.
  await knex.schema.createTable('roles', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.uuid('tenant_id').references('id').inTable('tenants').comment('null: a global role template');
    t.text('key').notNullable();
    t.text('name').notNullable();
    t.text('description');
    t.boolean('is_system').notNullable().defaultTo(false);
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw('create unique index roles_tenant_key on roles (tenant_id, key) nulls not distinct');
  await knex.raw('create trigger roles_updated_at before update on roles for each row execute function cusp_set_updated_at()');
  await enableSharedTenantIsolation(knex, 'roles');

  // A role's permissions belong to the role's owner: tenant_id equals the role's tenant_id
  // (null for a global role), checked by cusp_check_role_scope.
  await knex.schema.createTable('role_permissions', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.uuid('tenant_id').references('id').inTable('tenants').index().comment('the role\'s tenant_id (null for a global role)');
    t.uuid('role_id').notNullable().references('id').inTable('roles').onDelete('CASCADE');
    t.uuid('permission_id').notNullable().references('id').inTable('permissions').index();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw('create unique index role_permissions_role_permission_key on role_permissions (tenant_id, role_id, permission_id) nulls not distinct');
  await knex.raw('create index role_permissions_role_id_index on role_permissions (role_id)');
  await enableSharedTenantIsolation(knex, 'role_permissions');

  // A tenant's assignment of a role (global or its own) to a user, optionally scoped (ABAC).
  await createTenantTable(knex, 'user_roles', (t) => {
    globalRef(t, 'user_id', 'users', { nullable: false });
    t.uuid('role_id').notNullable().references('id').inTable('roles').comment('a global role or one of this tenant (cusp_check_role_scope)');
    t.index(['role_id']);
    tenantRef(t, 'location_id', 'locations');
    tenantRef(t, 'team_id', 'teams');
    t.enu('resource_scope', ['ALL_LOCATIONS', 'LOCATION', 'TEAM', 'SELF']).notNullable().defaultTo('ALL_LOCATIONS');
    t.timestamp('valid_from', { useTz: true });
    t.timestamp('valid_until', { useTz: true });
  }, { timestamps: true });

  // roles may be global, so a composite foreign key cannot express "global or the same
  // tenant": a trigger does. It runs as the writer, so RLS also hides other tenants' roles.
  await knex.raw(`create function cusp_check_role_scope() returns trigger language plpgsql as $$
    begin
      if not exists (select 1 from roles r where r.id = new.role_id
                     and (r.tenant_id is not distinct from new.tenant_id
                          or (tg_argv[0] = 'global_or_own' and r.tenant_id is null))) then
        raise exception 'role % is not available to tenant %', new.role_id, new.tenant_id using errcode = '23503';
      end if;
      return new;
    end
  $$`);
  await knex.raw(`create trigger role_permissions_role_scope before insert or update of tenant_id, role_id on role_permissions
    for each row execute function cusp_check_role_scope('same')`);
  await knex.raw(`create trigger user_roles_role_scope before insert or update of tenant_id, role_id on user_roles
    for each row execute function cusp_check_role_scope('global_or_own')`);

  // ---- II.2: sessions --------------------------------------------------------------------
  await createTenantTable(knex, 'sessions', (t) => {
    globalRef(t, 'user_id', 'users', { nullable: false, onDelete: 'CASCADE' });
    t.text('token_hash').comment('hash of the session token; never the token');
    t.jsonb('device_info');
    t.specificType('ip_address', 'inet');
    t.text('user_agent');
    t.timestamp('last_activity_at', { useTz: true });
    t.timestamp('expires_at', { useTz: true });
    t.timestamp('revoked_at', { useTz: true });
    t.index(['token_hash']);
  }, { timestamps: true });
}

export async function down(knex: Knex): Promise<void> {
  // The users policies read user_tenants: drop them before the tables.
  for (const policy of ['users_member_read', 'users_member_update', 'users_member_delete', 'users_insert', 'users_platform_access']) {
    await knex.raw(`drop policy if exists ${policy} on users`);
  }
  await knex.raw('drop policy if exists user_auth_identities_member_access on user_auth_identities');
  await knex.raw('alter table audit_events drop constraint if exists audit_events_user_id_foreign');
  await dropTables(knex, TABLES);
  await knex.raw('drop function if exists cusp_check_role_scope()');
}
