// What the primary schema lacks and seeds 003 and 004 add:
// - seed 003 (clinic data model): rooms and equipment of a location (location_resources),
//   appointments (soft delete), and patient-side invoices, their lines and payments. Its
//   "Visits" are our encounters, which gain the optional link to an appointment.
// - seed 004 (V1 human-in-the-loop intake): uploads -> extraction_jobs -> extraction_results
//   -> review_sessions; an approved review creates a patient, which keeps its upload_id.
//   004's clinic_id is our tenant_id, its users are our users, its audit_logs our audit_events.
import type { Knex } from 'knex';
import { confidence, createTenantTable, dropTables, globalRef, money, tenantRef } from './_schema.ts';

const PHI = { phi: true } as const;
const FHIR = { phi: true, versioned: true } as const;

const TABLES = [
  'location_resources', 'appointments', 'patient_invoices', 'patient_invoice_lines', 'patient_payments',
  'uploads', 'extraction_jobs', 'extraction_results', 'review_sessions',
];

export async function up(knex: Knex): Promise<void> {
  // ---- seed 003 ------------------------------------------------------------------------------
  await createTenantTable(knex, 'location_resources', (t) => {
    tenantRef(t, 'location_id', 'locations', { nullable: false, onDelete: 'CASCADE' });
    t.enu('type', ['ROOM', 'EQUIPMENT']).notNullable();
    t.text('name').notNullable();
    globalRef(t, 'equipment_id', 'equipment_reference');
    t.boolean('active').notNullable().defaultTo(true);
    t.unique(['tenant_id', 'location_id', 'name']);
  }, { timestamps: true });

  // Backs FHIR Appointment. Conflict detection (practitioner, room) is done by the application
  // on the (tenant, practitioner/resource, start) indexes.
  await createTenantTable(knex, 'appointments', (t) => {
    tenantRef(t, 'patient_id', 'patients', { nullable: false });
    globalRef(t, 'practitioner_user_id', 'users');
    tenantRef(t, 'location_id', 'locations');
    tenantRef(t, 'resource_id', 'location_resources');
    t.timestamp('start_at', { useTz: true }).notNullable();
    t.timestamp('end_at', { useTz: true }).notNullable();
    t.text('status').notNullable().defaultTo('BOOKED').comment('e.g. PROPOSED, BOOKED, ARRIVED, FULFILLED, CANCELLED, NO_SHOW');
    t.text('appointment_type');
    t.text('reason');
    t.text('notes');
    t.jsonb('recurrence_json').comment('recurrence rule of a recurring series');
    t.timestamp('cancelled_at', { useTz: true });
    t.text('cancellation_reason');
    t.check('end_at > start_at', {}, 'appointments_period');
    t.index(['tenant_id', 'practitioner_user_id', 'start_at']);
    t.index(['tenant_id', 'resource_id', 'start_at']);
    t.index(['tenant_id', 'location_id', 'start_at']);
    t.index(['tenant_id', 'patient_id', 'start_at']);
    t.index(['tenant_id', 'created_at']);
  }, { ...FHIR, softDelete: true });

  // 003: Visit.appointmentId (optional).
  await knex.schema.alterTable('encounters', (t) => {
    tenantRef(t, 'appointment_id', 'appointments');
  });

  await createTenantTable(knex, 'patient_invoices', (t) => {
    tenantRef(t, 'patient_id', 'patients', { nullable: false });
    tenantRef(t, 'encounter_id', 'encounters');
    tenantRef(t, 'location_id', 'locations');
    t.text('number').notNullable();
    t.text('status').notNullable().defaultTo('DRAFT').comment('e.g. DRAFT, ISSUED, PARTIALLY_PAID, PAID, VOID');
    t.timestamp('issued_at', { useTz: true });
    t.timestamp('due_at', { useTz: true });
    t.text('currency').notNullable().defaultTo('USD');
    money(t, 'subtotal_amount');
    money(t, 'tax_amount');
    money(t, 'discount_amount');
    money(t, 'total_amount').notNullable().defaultTo(0);
    t.jsonb('totals_json');
    t.text('notes');
    t.unique(['tenant_id', 'number']);
    t.index(['tenant_id', 'created_at']);
  }, FHIR);

  await createTenantTable(knex, 'patient_invoice_lines', (t) => {
    tenantRef(t, 'invoice_id', 'patient_invoices', { nullable: false, onDelete: 'CASCADE' });
    t.integer('line_number');
    t.text('item_type').notNullable().comment('e.g. SERVICE, PRODUCT, FEE, ADJUSTMENT');
    tenantRef(t, 'item_id', 'procedure_catalog');
    tenantRef(t, 'procedure_id', 'procedures');
    t.text('description');
    t.decimal('qty', 12, 3).notNullable().defaultTo(1);
    money(t, 'unit_price').notNullable();
    t.decimal('tax_rate', 5, 4).notNullable().defaultTo(0);
    t.decimal('discount_rate', 5, 4).notNullable().defaultTo(0);
    money(t, 'line_total');
  }, PHI);

  await createTenantTable(knex, 'patient_payments', (t) => {
    tenantRef(t, 'invoice_id', 'patient_invoices', { nullable: false });
    money(t, 'amount').notNullable();
    t.text('currency').notNullable().defaultTo('USD');
    t.text('method').notNullable().comment('e.g. CASH, CARD, CHECK, INSURANCE, TRANSFER');
    t.timestamp('received_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.text('reference');
    t.text('notes');
  }, FHIR);

  // ---- seed 004 ------------------------------------------------------------------------------
  await createTenantTable(knex, 'uploads', (t) => {
    globalRef(t, 'uploaded_by_user_id', 'users', { nullable: false });
    t.text('original_filename');
    t.text('mime_type');
    t.text('storage_key').notNullable();
    t.bigInteger('byte_size');
    t.text('hash');
    t.enu('status', ['UPLOADED', 'PROCESSING', 'EXTRACTED', 'VERIFIED', 'REJECTED', 'ERROR']).notNullable().defaultTo('UPLOADED');
    t.index(['tenant_id', 'status']);
  }, PHI);
  await knex.raw('create index uploads_tenant_created_idx on uploads (tenant_id, created_at desc)');

  await createTenantTable(knex, 'extraction_jobs', (t) => {
    tenantRef(t, 'upload_id', 'uploads', { nullable: false, onDelete: 'CASCADE' });
    t.enu('status', ['QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED']).notNullable().defaultTo('QUEUED');
    t.text('model_name');
    t.text('prompt_version');
    t.text('error_message');
    t.index(['tenant_id', 'status']);
  }, { timestamps: true });

  await createTenantTable(knex, 'extraction_results', (t) => {
    tenantRef(t, 'extraction_job_id', 'extraction_jobs', { nullable: false, onDelete: 'CASCADE' });
    confidence(t, 'overall_confidence');
    t.text('summary');
    t.jsonb('flags');
    t.jsonb('suggestions_json');
    t.unique(['tenant_id', 'extraction_job_id']);
  }, PHI);

  await createTenantTable(knex, 'review_sessions', (t) => {
    tenantRef(t, 'upload_id', 'uploads', { nullable: false, onDelete: 'CASCADE' });
    tenantRef(t, 'extraction_job_id', 'extraction_jobs');
    globalRef(t, 'reviewed_by_user_id', 'users', { nullable: false });
    t.enu('status', ['IN_PROGRESS', 'APPROVED', 'REJECTED']).notNullable().defaultTo('IN_PROGRESS');
    t.jsonb('final_payload_json');
    t.index(['tenant_id', 'status']);
  }, PHI);

  // 004: a patient created by an approved review keeps the upload it came from.
  await knex.schema.alterTable('patients', (t) => {
    tenantRef(t, 'upload_id', 'uploads');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('patients', (t) => {
    t.dropColumn('upload_id'); // with its foreign key and index
  });
  await knex.schema.alterTable('encounters', (t) => {
    t.dropColumn('appointment_id');
  });
  await dropTables(knex, TABLES);
}
