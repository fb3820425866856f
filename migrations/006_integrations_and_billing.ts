// Sections V and VI of the primary schema: external systems and tenant integrations, sync
// jobs, DICOM transactions and webhooks; platform billing (billing accounts, invoices to
// tenants, usage meters) and clinical billing (procedure catalogue, fee schedules, claims).
//
// Not made here: `fhir_resources` (V.2), an optional cache of rendered FHIR resources; the
// server renders resources from the tables themselves, so there is nothing to cache yet.
// `billing_plans` (VI.1) is an alias of subscription_plans (002).
import type { Knex } from 'knex';
import { createGlobalTable, createTenantTable, dropTables, globalRef, money, polymorphicId, tenantRef } from './_schema.ts';

const SYSTEM_TYPES = ['PMS', 'EHR', 'PACS', 'LIMS', 'PAYMENT_GATEWAY', 'INSURANCE_CLEARINGHOUSE'];
const FHIR = { phi: true, versioned: true } as const;

const TABLES = [
  'external_systems', 'tenant_integrations', 'integration_credentials', 'sync_jobs', 'sync_job_logs',
  'dicom_transactions', 'webhook_subscriptions', 'webhook_events', 'webhook_deliveries',
  'tenant_billing_accounts', 'usage_meters', 'usage_meter_readings', 'invoices', 'invoice_line_items',
  'procedure_catalog', 'fee_schedules', 'fee_schedule_items', 'claims', 'claim_lines', 'claim_status_events',
];

export async function up(knex: Knex): Promise<void> {
  // ---- V.1 external systems and connections ----------------------------------------------
  await createGlobalTable(knex, 'external_systems', (t) => {
    t.enu('system_type', SYSTEM_TYPES).notNullable();
    t.text('name').notNullable();
    t.text('vendor');
    t.text('product_version');
    t.text('description');
    t.jsonb('capabilities');
    t.unique(['system_type', 'name']);
  }, { timestamps: true });

  await createTenantTable(knex, 'tenant_integrations', (t) => {
    globalRef(t, 'external_system_id', 'external_systems', { nullable: false });
    t.enu('system_type', SYSTEM_TYPES).notNullable();
    t.text('display_name').notNullable();
    t.text('status').notNullable().defaultTo('ACTIVE').comment('e.g. ACTIVE, PAUSED, ERROR, DISABLED');
    t.enu('sync_mode', ['UNIDIRECTIONAL', 'BIDIRECTIONAL']).notNullable().defaultTo('UNIDIRECTIONAL');
    tenantRef(t, 'location_id', 'locations');
    t.jsonb('config');
    t.timestamp('last_synced_at', { useTz: true });
  }, { timestamps: true });

  // Field-level encrypted (KMS data key): only ciphertext and the key reference are stored.
  await createTenantTable(knex, 'integration_credentials', (t) => {
    tenantRef(t, 'integration_id', 'tenant_integrations', { nullable: false, onDelete: 'CASCADE' });
    t.text('credential_type').notNullable().comment('e.g. API_KEY, OAUTH_TOKEN, BASIC, CERTIFICATE');
    t.text('endpoint_url');
    t.binary('ciphertext').notNullable();
    t.text('kms_key_id').notNullable();
    t.timestamp('expires_at', { useTz: true });
    t.timestamp('rotated_at', { useTz: true });
  }, { timestamps: true });

  await createTenantTable(knex, 'sync_jobs', (t) => {
    tenantRef(t, 'integration_id', 'tenant_integrations', { nullable: false });
    t.text('job_type').notNullable().comment('e.g. SCHEDULE_IMPORT, CLAIM_EXPORT');
    t.text('status').notNullable().defaultTo('QUEUED').comment('e.g. QUEUED, RUNNING, SUCCEEDED, FAILED');
    globalRef(t, 'triggered_by_user_id', 'users');
    t.jsonb('parameters');
    t.timestamp('started_at', { useTz: true });
    t.timestamp('completed_at', { useTz: true });
    t.integer('records_created').notNullable().defaultTo(0);
    t.integer('records_updated').notNullable().defaultTo(0);
    t.integer('records_failed').notNullable().defaultTo(0);
    t.text('error_message');
  }, { timestamps: true });

  await createTenantTable(knex, 'sync_job_logs', (t) => {
    tenantRef(t, 'sync_job_id', 'sync_jobs', { nullable: false, onDelete: 'CASCADE' });
    t.text('entity_type');
    polymorphicId(t, 'entity_id', 'the local record synced, in the table named by entity_type');
    t.text('external_id');
    t.text('action').comment('e.g. CREATED, UPDATED, SKIPPED, FAILED');
    t.text('status').notNullable();
    t.text('message');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  // ---- V.2 standard messaging ------------------------------------------------------------
  await createTenantTable(knex, 'dicom_transactions', (t) => {
    tenantRef(t, 'dicom_node_id', 'dicom_nodes');
    tenantRef(t, 'integration_id', 'tenant_integrations');
    t.enu('operation', ['C-STORE', 'C-FIND', 'C-MOVE', 'C-GET', 'C-ECHO']).notNullable();
    t.enu('direction', ['INBOUND', 'OUTBOUND']).notNullable();
    t.text('calling_ae_title');
    t.text('called_ae_title');
    t.text('remote_host');
    t.integer('remote_port');
    tenantRef(t, 'study_id', 'imaging_studies');
    t.text('study_uid');
    t.text('series_uid');
    t.text('sop_instance_uid');
    t.integer('instance_count');
    t.integer('dimse_status').comment('DIMSE status code of the response');
    t.text('status').notNullable().comment('e.g. SUCCEEDED, FAILED, WARNING');
    t.text('error_message');
    t.timestamp('started_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('completed_at', { useTz: true });
    t.index(['tenant_id', 'started_at']);
    t.index(['tenant_id', 'study_uid']);
  }, { timestamps: true });

  await createTenantTable(knex, 'webhook_subscriptions', (t) => {
    tenantRef(t, 'api_client_id', 'api_clients');
    t.text('target_url').notNullable();
    t.specificType('event_types', 'text[]').notNullable().defaultTo('{}');
    t.binary('secret_ciphertext').comment('encrypted signing secret');
    t.text('status').notNullable().defaultTo('ACTIVE').comment('e.g. ACTIVE, PAUSED, DISABLED');
    t.text('description');
  }, { timestamps: true });

  await createTenantTable(knex, 'webhook_events', (t) => {
    t.text('event_type').notNullable();
    t.text('resource_type');
    polymorphicId(t, 'resource_id', 'the resource the event is about, in the table named by resource_type');
    t.jsonb('payload').notNullable();
    t.timestamp('occurred_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['tenant_id', 'occurred_at']);
  });

  await createTenantTable(knex, 'webhook_deliveries', (t) => {
    tenantRef(t, 'subscription_id', 'webhook_subscriptions', { nullable: false, onDelete: 'CASCADE' });
    tenantRef(t, 'event_id', 'webhook_events', { nullable: false, onDelete: 'CASCADE' });
    t.text('status').notNullable().defaultTo('PENDING').comment('e.g. PENDING, SUCCEEDED, FAILED');
    t.integer('attempt_count').notNullable().defaultTo(0);
    t.timestamp('last_attempt_at', { useTz: true });
    t.timestamp('next_attempt_at', { useTz: true });
    t.integer('response_status');
    t.text('response_body');
    t.text('error_message');
    t.unique(['tenant_id', 'subscription_id', 'event_id']);
    t.index(['status', 'next_attempt_at']);
  }, { timestamps: true });

  // ---- VI.1 platform billing ---------------------------------------------------------------
  await createTenantTable(knex, 'tenant_billing_accounts', (t) => {
    t.text('invoicing_contact_name');
    t.text('invoicing_contact_email');
    t.jsonb('billing_address');
    t.text('payment_provider');
    t.text('payment_method_token').comment('token at the payment provider; never card data');
    t.text('tax_id');
    t.text('currency').notNullable().defaultTo('USD');
    t.unique(['tenant_id']);
  }, { timestamps: true });

  await createGlobalTable(knex, 'usage_meters', (t) => {
    t.text('code').notNullable().unique().comment('e.g. AI_INFERENCES, STORAGE_GB, ACTIVE_USERS, API_CALLS');
    t.text('name').notNullable();
    t.text('unit');
    t.text('aggregation').comment('e.g. SUM, MAX, LAST');
    t.text('description');
  }, { timestamps: true });

  await createTenantTable(knex, 'usage_meter_readings', (t) => {
    globalRef(t, 'meter_id', 'usage_meters', { nullable: false });
    t.timestamp('period_start', { useTz: true }).notNullable();
    t.timestamp('period_end', { useTz: true }).notNullable();
    t.decimal('quantity', 18, 4).notNullable();
    t.timestamp('recorded_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(['tenant_id', 'meter_id', 'period_start']);
  });

  // Invoices from the platform to tenants (patient invoices are patient_invoices, 008).
  await createTenantTable(knex, 'invoices', (t) => {
    tenantRef(t, 'billing_account_id', 'tenant_billing_accounts');
    tenantRef(t, 'subscription_id', 'tenant_subscriptions');
    t.text('invoice_number').notNullable();
    t.date('period_start');
    t.date('period_end');
    t.text('status').notNullable().defaultTo('DRAFT').comment('e.g. DRAFT, ISSUED, PAID, VOID, OVERDUE');
    t.text('currency').notNullable().defaultTo('USD');
    money(t, 'total_amount').notNullable().defaultTo(0);
    t.date('due_date');
    t.timestamp('paid_at', { useTz: true });
    t.unique(['tenant_id', 'invoice_number']);
  }, { timestamps: true });

  await createTenantTable(knex, 'invoice_line_items', (t) => {
    tenantRef(t, 'invoice_id', 'invoices', { nullable: false, onDelete: 'CASCADE' });
    t.text('item_type').notNullable().comment('e.g. SUBSCRIPTION, AI_OVERAGE, STORAGE_OVERAGE, SUPPORT');
    t.text('description');
    globalRef(t, 'meter_id', 'usage_meters');
    t.decimal('quantity', 18, 4).notNullable().defaultTo(1);
    money(t, 'unit_price');
    money(t, 'amount').notNullable();
    t.date('period_start');
    t.date('period_end');
  }, { timestamps: true });

  // ---- VI.2 clinical billing ---------------------------------------------------------------
  // CDT and tenant-custom codes; also seed 003's ProductService catalogue (products billed to patients).
  await createTenantTable(knex, 'procedure_catalog', (t) => {
    t.text('code').notNullable();
    t.text('code_system').notNullable().defaultTo('CDT').comment('CDT, or CUSTOM for tenant codes');
    globalRef(t, 'code_value_id', 'code_values');
    t.text('description').notNullable();
    t.text('category');
    t.text('item_type').notNullable().defaultTo('SERVICE').comment('SERVICE or PRODUCT');
    money(t, 'default_fee');
    t.decimal('tax_rate', 5, 4);
    t.boolean('is_active').notNullable().defaultTo(true);
    t.unique(['tenant_id', 'code']);
  }, { timestamps: true });

  await createTenantTable(knex, 'fee_schedules', (t) => {
    t.text('name').notNullable();
    tenantRef(t, 'location_id', 'locations');
    tenantRef(t, 'payer_id', 'payers');
    t.text('currency').notNullable().defaultTo('USD');
    t.date('effective_from');
    t.date('effective_to');
    t.boolean('is_default').notNullable().defaultTo(false);
  }, { timestamps: true });

  // The rows of a fee table: the fee of one catalogue entry.
  await createTenantTable(knex, 'fee_schedule_items', (t) => {
    tenantRef(t, 'fee_schedule_id', 'fee_schedules', { nullable: false, onDelete: 'CASCADE' });
    tenantRef(t, 'procedure_catalog_id', 'procedure_catalog', { nullable: false });
    money(t, 'fee').notNullable();
    t.unique(['tenant_id', 'fee_schedule_id', 'procedure_catalog_id'], { indexName: 'fee_schedule_items_key' });
  }, { timestamps: true });

  await createTenantTable(knex, 'claims', (t) => {
    tenantRef(t, 'patient_id', 'patients', { nullable: false });
    tenantRef(t, 'payer_id', 'payers', { nullable: false });
    tenantRef(t, 'insurance_policy_id', 'patient_insurance_policies');
    tenantRef(t, 'encounter_id', 'encounters');
    tenantRef(t, 'location_id', 'locations');
    globalRef(t, 'provider_id', 'users');
    t.text('claim_number').notNullable();
    t.text('status').notNullable().defaultTo('DRAFT').comment('e.g. DRAFT, SUBMITTED, ACCEPTED, DENIED, PAID, APPEALED');
    t.timestamp('submitted_at', { useTz: true });
    t.timestamp('resubmitted_at', { useTz: true });
    t.timestamp('adjudicated_at', { useTz: true });
    t.text('currency').notNullable().defaultTo('USD');
    money(t, 'total_billed_amount');
    money(t, 'total_allowed_amount');
    money(t, 'total_paid_amount');
    t.unique(['tenant_id', 'claim_number']);
  }, FHIR);

  await createTenantTable(knex, 'claim_lines', (t) => {
    tenantRef(t, 'claim_id', 'claims', { nullable: false, onDelete: 'CASCADE' });
    t.integer('line_number').notNullable();
    tenantRef(t, 'procedure_id', 'procedures');
    tenantRef(t, 'treatment_plan_item_id', 'treatment_plan_items');
    t.text('cdt_code').notNullable();
    t.text('tooth_number');
    t.text('surface');
    t.date('service_date');
    t.integer('quantity').notNullable().defaultTo(1);
    money(t, 'billed_amount');
    money(t, 'allowed_amount');
    money(t, 'paid_amount');
    t.text('status');
    t.unique(['tenant_id', 'claim_id', 'line_number']);
  }, FHIR);

  await createTenantTable(knex, 'claim_status_events', (t) => {
    tenantRef(t, 'claim_id', 'claims', { nullable: false, onDelete: 'CASCADE' });
    tenantRef(t, 'claim_line_id', 'claim_lines', { onDelete: 'CASCADE' });
    t.text('status').notNullable();
    t.text('status_code').comment('payer status / adjustment reason code');
    t.text('description');
    money(t, 'amount');
    t.text('source').comment('e.g. EDI_277, EDI_835, PORTAL, MANUAL');
    t.jsonb('raw');
    t.timestamp('occurred_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['tenant_id', 'claim_id', 'occurred_at']);
  }, { phi: true });
}

export async function down(knex: Knex): Promise<void> {
  await dropTables(knex, TABLES);
}
