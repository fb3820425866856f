// The data model, checked from the catalogue: the tables of the seeds exist, tenant-scoped
// tables are isolated by row-level security, references are indexed and kept inside a tenant,
// business keys are per tenant, PHI tables carry provenance and FHIR-backing tables versions.
import assert from 'node:assert/strict';
import type pg from 'pg';
import { ownerClient } from './support/database.ts';

// Every table the seeds ask for (000 sections I–VI, VIII, IX, XI research, XIV voice; 003;
// 004), plus `payers` (referenced by the seed, never defined) and `imaging_object_teeth`.
const SEED_TABLES = [
  // I. tenancy
  'tenants', 'tenant_settings', 'tenant_branding', 'subscription_plans', 'tenant_subscriptions', 'tenant_features',
  'tenant_quotas', 'locations', 'teams', 'team_members',
  // II. identity, access and audit
  'users', 'user_auth_identities', 'user_tenants', 'roles', 'permissions', 'role_permissions', 'user_roles',
  'sessions', 'api_clients', 'audit_events', 'phi_access_logs', 'consents', 'data_retention_policies', 'legal_holds',
  // III. patients and clinical data
  'patients', 'patient_identifiers', 'patient_addresses', 'patient_insurance_policies', 'patient_relationships',
  'patient_conditions', 'patient_medications', 'patient_allergies', 'patient_social_history', 'encounters',
  'encounter_diagnoses', 'clinical_notes', 'vital_signs', 'tooth_chart_snapshots', 'perio_measurements',
  'treatment_plans', 'treatment_plan_items', 'procedures', 'procedure_materials', 'clinical_outcomes',
  // IV. imaging and AI
  'imaging_studies', 'imaging_series', 'imaging_objects', 'image_annotations', 'ai_models', 'ai_model_versions',
  'ai_model_deployments', 'ai_inference_jobs', 'ai_predictions', 'ai_review_events', 'ai_outcome_links',
  // V. integrations
  'external_systems', 'tenant_integrations', 'integration_credentials', 'sync_jobs', 'sync_job_logs',
  'dicom_transactions', 'webhook_subscriptions', 'webhook_events', 'webhook_deliveries',
  // VI. billing
  'tenant_billing_accounts', 'invoices', 'invoice_line_items', 'usage_meters', 'usage_meter_readings',
  'procedure_catalog', 'fee_schedules', 'claims', 'claim_lines', 'claim_status_events',
  // VIII. knowledge and communication
  'knowledge_documents', 'knowledge_versions', 'knowledge_localizations', 'conversations',
  'conversation_participants', 'messages', 'notifications', 'documents', 'referrals',
  // IX. reference data, custom fields, workflows
  'code_systems', 'code_values', 'drug_reference', 'material_reference', 'equipment_reference',
  'custom_field_definitions', 'custom_field_values', 'workflows', 'workflow_instances', 'workflow_transitions',
  // XI. research
  'research_datasets', 'research_dataset_members', 'research_access_logs',
  // XIV. voice
  'voice_sessions', 'voice_utterances', 'voice_recordings',
  // seed 003
  'appointments', 'location_resources', 'patient_invoices', 'patient_invoice_lines', 'patient_payments',
  // seed 004
  'uploads', 'extraction_jobs', 'extraction_results', 'review_sessions',
  // implied by the seeds
  'payers', 'imaging_object_teeth',
];

const PHI_TABLES = [
  'patients', 'patient_identifiers', 'patient_addresses', 'patient_insurance_policies', 'patient_relationships',
  'patient_conditions', 'patient_medications', 'patient_allergies', 'patient_social_history',
  'encounters', 'encounter_diagnoses', 'clinical_notes', 'vital_signs', 'tooth_chart_snapshots', 'perio_measurements',
  'treatment_plans', 'treatment_plan_items', 'procedures', 'procedure_materials', 'clinical_outcomes',
  'imaging_studies', 'imaging_series', 'imaging_objects', 'image_annotations',
  'ai_predictions', 'ai_review_events', 'ai_outcome_links', 'consents', 'claims', 'claim_lines', 'claim_status_events',
  'documents', 'referrals', 'messages', 'conversations', 'voice_sessions', 'voice_utterances', 'voice_recordings',
  'appointments', 'patient_invoices', 'patient_invoice_lines', 'patient_payments',
  'uploads', 'extraction_results', 'review_sessions', 'research_dataset_members', 'phi_access_logs', 'custom_field_values',
];

// Tables that back FHIR resources: version_id and last_updated, bumped on every UPDATE.
const VERSIONED_TABLES = [
  'tenants', 'users', 'user_tenants', 'locations', 'payers',
  'patients', 'patient_identifiers', 'patient_addresses', 'patient_relationships', 'patient_insurance_policies',
  'patient_conditions', 'patient_medications', 'patient_allergies',
  'encounters', 'encounter_diagnoses', 'clinical_notes', 'vital_signs', 'tooth_chart_snapshots', 'perio_measurements',
  'treatment_plans', 'treatment_plan_items', 'procedures',
  'imaging_studies', 'imaging_series', 'imaging_objects', 'image_annotations', 'ai_predictions',
  'consents', 'documents', 'referrals', 'claims', 'claim_lines', 'messages',
  'appointments', 'patient_invoices', 'patient_payments',
];

// client_id is the OAuth identifier presented before any tenant is known, and the platform's
// own tables (rate limits, assertion jtis) refer to a client by id alone (see 001).
const GLOBAL_UNIQUE_KEYS_ALLOWED = [{ table: 'api_clients', columns: ['client_id'] }, { table: 'api_clients', columns: ['id'] }];

const fmt = (rows: unknown[]) => JSON.stringify(rows, null, 1);

async function withClient<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = await ownerClient();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Runs `work` as cusp_platform (RLS applies, as in the server) in a transaction rolled back afterwards. */
async function asPlatform<T>(client: pg.Client, work: () => Promise<T>): Promise<T> {
  await client.query('begin');
  try {
    await client.query('set local role cusp_platform');
    return await work();
  } finally {
    await client.query('rollback');
  }
}

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (error: { code?: string; message?: string }) => {
    assert.equal(error.code, code, `expected SQLSTATE ${code}, got ${error.code}: ${error.message}`);
    return true;
  });
}

describe('database schema', () => {
  // Two tenants, each with a patient, committed once (as cusp_platform) for the tests below.
  const fixture = { tenantA: '', tenantB: '', patientA: '', patientB: '' };

  before(async () => {
    await withClient(async (client) => {
      await client.query('begin');
      await client.query('set local role cusp_platform');
      const tenants = await client.query(
        `insert into tenants (name) values ('schema test A'), ('schema test B') returning id`);
      fixture.tenantA = tenants.rows[0].id;
      fixture.tenantB = tenants.rows[1].id;
      const patients = await client.query(
        `insert into patients (tenant_id, first_name, last_name, dob) values ($1, 'Ada', 'Able', '1980-01-02'), ($2, 'Bo', 'Baker', '1990-03-04')
         returning id`, [fixture.tenantA, fixture.tenantB]);
      fixture.patientA = patients.rows[0].id;
      fixture.patientB = patients.rows[1].id;
      await client.query('commit');
    });
  });

  it('has every table the seeds list', async () => {
    const { rows } = await withClient((client) => client.query(
      `select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE'`));
    const present = new Set(rows.map((row) => row.table_name as string));
    assert.deepEqual(SEED_TABLES.filter((name) => !present.has(name)), []);
    // Section VII (the analytics warehouse) and the optional fhir_resources cache are not OLTP tables.
    assert.deepEqual([...present].filter((name) => /^(fact|dim)_/.test(name) || name === 'fhir_resources'), []);
  });

  it('isolates every table with a tenant_id column by forced row-level security with a policy for cusp_app', async () => {
    const { rows } = await withClient((client) => client.query(
      `select c.relname as table, c.relrowsecurity as enabled, c.relforcerowsecurity as forced,
              exists (select 1 from pg_policy p where p.polrelid = c.oid
                      and (select oid from pg_roles where rolname = 'cusp_app') = any (p.polroles)) as app_policy
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
       where n.nspname = 'public' and c.relkind = 'r'
         and exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped)
       order by c.relname`));
    assert.ok(rows.length > 90, `only ${rows.length} tenant-scoped tables`);
    const unprotected = rows.filter((row) => !row.enabled || !row.forced || !row.app_policy);
    assert.deepEqual(unprotected, [], fmt(unprotected));
  });

  it('keeps tenant_id NOT NULL everywhere but in the tables that also hold global rows', async () => {
    const { rows } = await withClient((client) => client.query(
      `select c.table_name from information_schema.columns c
       join information_schema.tables t on t.table_schema = c.table_schema and t.table_name = c.table_name and t.table_type = 'BASE TABLE'
       where c.table_schema = 'public' and c.column_name = 'tenant_id' and c.is_nullable = 'YES' order by c.table_name`));
    assert.deepEqual(rows.map((row) => row.table_name),
      ['ai_model_deployments', 'audit_events', 'role_permissions', 'roles']);
  });

  it('has an index led by the columns of every foreign key', async () => {
    const { rows } = await withClient((client) => client.query(
      `select con.conrelid::regclass::text as table, con.conname as constraint,
              (select array_agg(a.attname::text order by a.attnum) from pg_attribute a
               where a.attrelid = con.conrelid and a.attnum = any (con.conkey)) as columns
       from pg_constraint con join pg_namespace n on n.oid = con.connamespace
       where n.nspname = 'public' and con.contype = 'f'
         and not exists (
           select 1 from pg_index i
           where i.indrelid = con.conrelid and i.indpred is null
             and (i.indkey::int2[])[0:cardinality(con.conkey) - 1] @> con.conkey
             and (i.indkey::int2[])[0:cardinality(con.conkey) - 1] <@ con.conkey)
       order by 1, 2`));
    assert.deepEqual(rows, [], fmt(rows));
  });

  it('puts tenant_id in every unique key of a tenant-scoped table', async () => {
    const { rows } = await withClient((client) => client.query(
      `select c.relname as table, ic.relname as index,
              (select array_agg(a.attname::text order by k.ord) from unnest(i.indkey::int2[]) with ordinality k(attnum, ord)
               join pg_attribute a on a.attrelid = c.oid and a.attnum = k.attnum) as columns
       from pg_index i
       join pg_class c on c.oid = i.indrelid
       join pg_class ic on ic.oid = i.indexrelid
       join pg_namespace n on n.oid = c.relnamespace
       where n.nspname = 'public' and i.indisunique
         and exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped and a.attnotnull)
         and not exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = 'tenant_id'
                         and a.attnum = any (i.indkey::int2[]))
       order by 1, 2`));
    const offending = rows.filter((row) => !GLOBAL_UNIQUE_KEYS_ALLOWED.some(
      (allowed) => allowed.table === row.table && JSON.stringify(allowed.columns) === JSON.stringify(row.columns)));
    assert.deepEqual(offending, [], fmt(offending));
    assert.equal(rows.length, 2, 'the api_clients exceptions are still there');
  });

  it('gives every PHI table created_at, created_by, updated_at and updated_by', async () => {
    const { rows } = await withClient((client) => client.query(
      `select table_name, array_agg(column_name::text) as columns from information_schema.columns
       where table_schema = 'public' and table_name = any ($1)
         and column_name in ('created_at', 'created_by', 'updated_at', 'updated_by')
       group by table_name`, [PHI_TABLES]));
    const found = new Map(rows.map((row) => [row.table_name as string, (row.columns as string[]).length]));
    const incomplete = PHI_TABLES.filter((name) => found.get(name) !== 4);
    assert.deepEqual(incomplete, []);
  });

  it('gives every table with created_by the updated_by column too, and every table with updated_at its trigger', async () => {
    const { rows } = await withClient((client) => client.query(
      `select c.relname as table,
              exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = 'created_by') as created_by,
              exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = 'updated_by') as updated_by,
              exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = 'updated_at') as updated_at,
              exists (select 1 from pg_trigger t join pg_proc p on p.oid = t.tgfoid
                      where t.tgrelid = c.oid and p.proname = 'cusp_set_updated_at') as updated_at_trigger
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
       where n.nspname = 'public' and c.relkind = 'r'`));
    const wrong = rows.filter((row) => row.created_by !== row.updated_by || row.updated_at !== row.updated_at_trigger);
    assert.deepEqual(wrong, [], fmt(wrong));
  });

  it('versions every table that backs a FHIR resource with a trigger-maintained version_id and last_updated', async () => {
    const { rows } = await withClient((client) => client.query(
      `select c.relname as table from pg_class c join pg_namespace n on n.oid = c.relnamespace
       where n.nspname = 'public' and c.relkind = 'r'
         and exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = 'version_id')
         and exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = 'last_updated')
         and exists (select 1 from pg_trigger t join pg_proc p on p.oid = t.tgfoid
                     where t.tgrelid = c.oid and p.proname = 'cusp_bump_version')`));
    const versioned = new Set(rows.map((row) => row.table as string));
    assert.deepEqual(VERSIONED_TABLES.filter((name) => !versioned.has(name)), []);
    assert.ok(!versioned.has('custom_field_values'));
  });

  it('rejects a value outside an enum with a CHECK violation', async () => {
    await withClient(async (client) => {
      await asPlatform(client, () => rejectsWith(client.query(
        `insert into patients (tenant_id, last_name, status) values ($1, 'Zed', 'ZOMBIE')`, [fixture.tenantA]), '23514'));
      await asPlatform(client, () => rejectsWith(client.query(
        `insert into encounters (tenant_id, patient_id, encounter_type) values ($1, $2, 'SPA_DAY')`,
        [fixture.tenantA, fixture.patientA]), '23514'));
      await asPlatform(client, () => rejectsWith(client.query(
        `insert into patient_identifiers (tenant_id, patient_id, system, value) values ($1, $2, 'PASSPORT', 'X1')`,
        [fixture.tenantA, fixture.patientA]), '23514'));
    });
  });

  it('bumps version_id and last_updated on a plain SQL UPDATE of a patient', async () => {
    await withClient((client) => asPlatform(client, async () => {
      const before = await client.query('select version_id, last_updated from patients where id = $1', [fixture.patientA]);
      const after = await client.query(
        `update patients set phone_mobile = '+1 555 0100' where id = $1 returning version_id, last_updated`, [fixture.patientA]);
      assert.equal(before.rows[0].version_id, 1);
      assert.equal(after.rows[0].version_id, 2);
      assert.ok(after.rows[0].last_updated > before.rows[0].last_updated);
      // A second change in the same transaction is part of the same version.
      const again = await client.query(`update patients set phone_home = '+1 555 0101' where id = $1 returning version_id`, [fixture.patientA]);
      assert.equal(again.rows[0].version_id, 2);
    }));
  });

  it('stops a row of one tenant from referencing another tenant\'s patient', async () => {
    await withClient(async (client) => {
      // The same tenant: accepted.
      await asPlatform(client, () => client.query(
        'insert into encounters (tenant_id, patient_id) values ($1, $2)', [fixture.tenantA, fixture.patientA]));
      // Tenant B pointing at A's patient: the composite foreign key refuses, even for the platform role.
      await asPlatform(client, () => rejectsWith(client.query(
        'insert into encounters (tenant_id, patient_id) values ($1, $2)', [fixture.tenantB, fixture.patientA]), '23503'));
      await asPlatform(client, () => rejectsWith(client.query(
        `insert into patient_identifiers (tenant_id, patient_id, system, value) values ($1, $2, 'MRN', 'M-1')`,
        [fixture.tenantB, fixture.patientA]), '23503'));
    });
  });

  it('makes identifiers unique per tenant, also when the system URI is missing', async () => {
    await withClient((client) => asPlatform(client, async () => {
      const insert = `insert into patient_identifiers (tenant_id, patient_id, system, value) values ($1, $2, 'MRN', 'SAME')`;
      await client.query(insert, [fixture.tenantA, fixture.patientA]);
      await client.query(insert, [fixture.tenantB, fixture.patientB]); // another tenant may use the same value
      await rejectsWith(client.query(insert, [fixture.tenantA, fixture.patientA]), '23505');
    }));
  });

  it('shows a tenant only the users that are its members, and global roles but not other tenants\' roles', async () => {
    await withClient(async (client) => {
      await client.query('begin');
      try {
        await client.query('set local role cusp_platform');
        const users = await client.query(
          `insert into users (email) values ('schema.a@example.test'), ('schema.b@example.test') returning id`);
        const [userA, userB] = users.rows.map((row) => row.id as string);
        await client.query(`insert into user_tenants (tenant_id, user_id, user_type) values ($1, $2, 'DENTIST'), ($3, $4, 'HYGIENIST')`,
          [fixture.tenantA, userA, fixture.tenantB, userB]);
        await client.query(`insert into roles (tenant_id, key, name) values (null, 'SCHEMA_TEST_GLOBAL', 'g'), ($1, 'SCHEMA_TEST_A', 'a'), ($2, 'SCHEMA_TEST_B', 'b')`,
          [fixture.tenantA, fixture.tenantB]);
        await client.query('set local role cusp_app');
        await client.query(`select set_config('cusp.tenant_id', $1, true)`, [fixture.tenantA]);
        const visible = await client.query(`select id from users where email like 'schema.%@example.test'`);
        assert.deepEqual(visible.rows.map((row) => row.id), [userA]);
        const roles = await client.query(`select key from roles where key like 'SCHEMA_TEST_%' order by key`);
        assert.deepEqual(roles.rows.map((row) => row.key), ['SCHEMA_TEST_A', 'SCHEMA_TEST_GLOBAL']);
        // Email is unique case-insensitively.
        await rejectsWith(client.query(`insert into users (email) values ('Schema.A@Example.TEST')`), '23505');
      } finally {
        await client.query('rollback');
      }
    });
  });

  it('has GIN full-text indexes on clinical_notes.content and messages.content', async () => {
    const { rows } = await withClient((client) => client.query(
      `select c.relname as table from pg_index i
       join pg_class c on c.oid = i.indrelid
       join pg_class ic on ic.oid = i.indexrelid
       join pg_am am on am.oid = ic.relam
       where am.amname = 'gin' and pg_get_indexdef(i.indexrelid) like '%to_tsvector%content%'
       order by 1`));
    assert.deepEqual(rows.map((row) => row.table), ['clinical_notes', 'messages']);
  });
});
