// Section III of the primary schema: patient master data, history and problem lists,
// encounters and notes, dental charting and perio, treatment plans, procedures and outcomes.
// Also `payers`, which the seed references (payer_id) without defining.
import type { Knex } from 'knex';
import { createTenantTable, dropTables, globalRef, money, tenantRef } from './_schema.ts';

const PHI = { phi: true } as const;
const FHIR = { phi: true, versioned: true } as const;

const TABLES = [
  'payers', 'patients', 'patient_identifiers', 'patient_addresses', 'patient_insurance_policies',
  'patient_relationships', 'encounters', 'patient_conditions', 'patient_medications', 'patient_allergies',
  'patient_social_history', 'encounter_diagnoses', 'clinical_notes', 'clinical_note_amendments', 'vital_signs',
  'tooth_chart_snapshots', 'perio_measurements', 'treatment_plans', 'treatment_plan_items', 'procedures',
  'treatment_plan_procedures', 'procedure_materials', 'clinical_outcomes',
];

export async function up(knex: Knex): Promise<void> {
  // Insurance carriers (FHIR Organization with type "pay"). Tenant-scoped: each tenant keeps
  // its own payer list and EDI ids.
  await createTenantTable(knex, 'payers', (t) => {
    t.text('name').notNullable();
    t.text('payer_code').comment('EDI payer id');
    t.text('type').comment('e.g. COMMERCIAL, MEDICAID, MEDICARE, GOVERNMENT, SELF_PAY');
    t.text('contact_name');
    t.text('contact_phone');
    t.text('contact_email');
    t.text('website');
    t.jsonb('address');
    t.boolean('active').notNullable().defaultTo(true);
    t.unique(['tenant_id', 'payer_code']);
  }, { timestamps: true, versioned: true });

  // ---- III.1 patient master data ---------------------------------------------------------
  await createTenantTable(knex, 'patients', (t) => {
    tenantRef(t, 'primary_location_id', 'locations');
    t.text('first_name');
    t.text('last_name');
    t.date('dob');
    t.text('sex_at_birth');
    t.text('gender_identity');
    t.text('contact_email');
    t.text('phone_mobile');
    t.text('phone_home');
    t.text('preferred_language');
    t.text('preferred_contact_method');
    t.enu('status', ['ACTIVE', 'INACTIVE', 'DECEASED']).notNullable().defaultTo('ACTIVE');
    t.timestamp('deceased_at', { useTz: true });
    t.text('created_from').comment("how the record came to be, e.g. IMAGING when created by DICOM ingest; null for ordinary registration");
    t.index(['tenant_id', 'last_name', 'dob']);
    t.index(['tenant_id', 'last_name', 'first_name']);
  }, { ...FHIR, softDelete: true });

  await createTenantTable(knex, 'patient_identifiers', (t) => {
    tenantRef(t, 'patient_id', 'patients', { nullable: false, onDelete: 'CASCADE' });
    t.enu('system', ['INTERNAL', 'MRN', 'INSURANCE_MEMBER', 'NATIONAL_ID', 'DSO_GLOBAL_ID', 'OTHER']).notNullable();
    t.text('system_uri').comment('FHIR identifier system / DICOM issuer of patient id, when known');
    t.text('value').notNullable();
    t.boolean('is_primary').notNullable().defaultTo(false);
    t.index(['tenant_id', 'value']);
  }, FHIR);
  // A null system_uri must still collide with another null: coalesce in a unique index.
  await knex.raw(`create unique index patient_identifiers_business_key
    on patient_identifiers (tenant_id, system, coalesce(system_uri, ''), value)`);

  await createTenantTable(knex, 'patient_addresses', (t) => {
    tenantRef(t, 'patient_id', 'patients', { nullable: false, onDelete: 'CASCADE' });
    t.text('use').comment('e.g. HOME, WORK, TEMP, OLD, BILLING');
    t.text('type').comment('e.g. PHYSICAL, POSTAL, BOTH');
    t.text('line1');
    t.text('line2');
    t.text('city');
    t.text('state');
    t.text('postal_code');
    t.text('country');
    t.date('period_start');
    t.date('period_end');
  }, FHIR);

  await createTenantTable(knex, 'patient_insurance_policies', (t) => {
    tenantRef(t, 'patient_id', 'patients', { nullable: false, onDelete: 'CASCADE' });
    tenantRef(t, 'payer_id', 'payers', { nullable: false });
    t.text('plan_name');
    t.text('policy_number');
    t.text('group_number');
    t.text('subscriber_name');
    t.text('subscriber_relationship').comment('e.g. SELF, SPOUSE, CHILD, OTHER');
    t.date('coverage_start');
    t.date('coverage_end');
    t.boolean('is_primary').notNullable().defaultTo(true).comment('primary (true) or secondary coverage');
  }, FHIR);

  await createTenantTable(knex, 'patient_relationships', (t) => {
    tenantRef(t, 'patient_id', 'patients', { nullable: false, onDelete: 'CASCADE' });
    tenantRef(t, 'related_patient_id', 'patients');
    t.uuid('external_contact_id').comment('no foreign key: id of a contact held outside this schema (the seed defines no contacts table); contact_* hold the details');
    t.index(['tenant_id', 'external_contact_id']);
    t.text('contact_name');
    t.text('contact_phone');
    t.text('contact_email');
    t.enu('relationship_type', ['SPOUSE', 'CHILD', 'GUARDIAN', 'EMERGENCY_CONTACT', 'OTHER']).notNullable();
    t.check('related_patient_id is not null or external_contact_id is not null or contact_name is not null', {}, 'patient_relationships_party');
  }, FHIR);

  // ---- III.3 encounters (seed 003's "Visits": soft delete) ---------------------------------
  await createTenantTable(knex, 'encounters', (t) => {
    tenantRef(t, 'patient_id', 'patients', { nullable: false });
    tenantRef(t, 'location_id', 'locations');
    globalRef(t, 'provider_id', 'users');
    t.timestamp('scheduled_start_at', { useTz: true });
    t.timestamp('check_in_at', { useTz: true });
    t.timestamp('check_out_at', { useTz: true });
    t.enu('encounter_type', ['EXAM', 'EMERGENCY', 'HYGIENE', 'ORTHO', 'IMPLANT', 'TEACHING']).notNullable().defaultTo('EXAM');
    t.enu('status', ['SCHEDULED', 'IN_PROGRESS', 'COMPLETED', 'CANCELLED', 'NO_SHOW']).notNullable().defaultTo('SCHEDULED');
    t.text('reason');
    t.index(['tenant_id', 'patient_id', 'scheduled_start_at']);
  }, { ...FHIR, softDelete: true });

  // ---- III.2 history and problem lists ----------------------------------------------------
  await createTenantTable(knex, 'patient_conditions', (t) => {
    tenantRef(t, 'patient_id', 'patients', { nullable: false, onDelete: 'CASCADE' });
    tenantRef(t, 'encounter_id', 'encounters');
    t.text('code_system').comment('e.g. ICD10, SNOMED, CUSTOM');
    t.text('code');
    t.text('description');
    t.text('clinical_status').comment('e.g. ACTIVE, RECURRENCE, INACTIVE, RESOLVED');
    t.text('verification_status');
    t.text('tooth_number');
    t.date('onset_date');
    t.date('abatement_date');
    globalRef(t, 'recorded_by_id', 'users');
    t.text('notes');
  }, FHIR);

  await createTenantTable(knex, 'patient_medications', (t) => {
    tenantRef(t, 'patient_id', 'patients', { nullable: false, onDelete: 'CASCADE' });
    globalRef(t, 'drug_id', 'drug_reference');
    t.text('medication_name').notNullable();
    t.text('dosage');
    t.text('route');
    t.text('frequency');
    t.date('start_date');
    t.date('stop_date');
    globalRef(t, 'prescriber_id', 'users');
    t.text('prescriber_name').comment('when the prescriber is not a user (outside prescriber)');
    t.text('status').comment('e.g. ACTIVE, COMPLETED, STOPPED');
    t.text('notes');
  }, FHIR);

  await createTenantTable(knex, 'patient_allergies', (t) => {
    tenantRef(t, 'patient_id', 'patients', { nullable: false, onDelete: 'CASCADE' });
    t.enu('allergen_type', ['DRUG', 'MATERIAL', 'OTHER']).notNullable();
    globalRef(t, 'drug_id', 'drug_reference');
    globalRef(t, 'material_id', 'material_reference');
    t.text('allergen_code');
    t.text('allergen_name').notNullable();
    t.text('reaction');
    t.text('severity').comment('e.g. MILD, MODERATE, SEVERE');
    t.text('status').comment('e.g. ACTIVE, INACTIVE, RESOLVED');
    t.date('onset_date');
    t.text('notes');
  }, FHIR);

  await createTenantTable(knex, 'patient_social_history', (t) => {
    tenantRef(t, 'patient_id', 'patients', { nullable: false, onDelete: 'CASCADE' });
    tenantRef(t, 'encounter_id', 'encounters');
    t.text('smoking_status');
    t.text('tobacco_use');
    t.text('alcohol_use');
    t.text('substance_use');
    t.jsonb('habits').comment('other relevant habits, e.g. bruxism, diet, oral hygiene');
    t.timestamp('recorded_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  }, PHI);

  await createTenantTable(knex, 'encounter_diagnoses', (t) => {
    tenantRef(t, 'encounter_id', 'encounters', { nullable: false, onDelete: 'CASCADE' });
    t.text('code_system').notNullable().comment('e.g. ICD10, CDT, SNOMED');
    t.text('code').notNullable();
    t.text('description');
    t.text('tooth_number');
    t.boolean('is_primary').notNullable().defaultTo(false);
    t.integer('rank');
  }, FHIR);

  await createTenantTable(knex, 'clinical_notes', (t) => {
    tenantRef(t, 'patient_id', 'patients', { nullable: false });
    tenantRef(t, 'encounter_id', 'encounters');
    globalRef(t, 'author_id', 'users');
    t.enu('note_type', ['SOAP', 'RADIOLOGY_REPORT', 'OP_NOTE']).notNullable();
    t.text('content').comment('text or Markdown');
    t.timestamp('signed_at', { useTz: true });
    t.timestamp('amended_at', { useTz: true });
  }, FHIR);
  await knex.raw(`create index clinical_notes_content_fts on clinical_notes using gin (to_tsvector('english', coalesce(content, '')))`);

  // The amendment audit trail of clinical_notes: the content before each amendment.
  await createTenantTable(knex, 'clinical_note_amendments', (t) => {
    tenantRef(t, 'note_id', 'clinical_notes', { nullable: false, onDelete: 'CASCADE' });
    globalRef(t, 'amended_by_id', 'users');
    t.timestamp('amended_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.text('reason');
    t.text('previous_content');
    t.bigInteger('previous_version_id');
  }, PHI);

  await createTenantTable(knex, 'vital_signs', (t) => {
    tenantRef(t, 'patient_id', 'patients', { nullable: false });
    tenantRef(t, 'encounter_id', 'encounters');
    t.timestamp('measured_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.integer('systolic_bp');
    t.integer('diastolic_bp');
    t.integer('heart_rate');
    t.integer('respiratory_rate');
    t.decimal('temperature_c', 4, 1);
    t.integer('spo2');
    t.decimal('weight_kg', 6, 2);
    t.decimal('height_cm', 6, 2);
    t.decimal('bmi', 5, 2);
    globalRef(t, 'recorded_by_id', 'users');
    t.text('notes');
  }, FHIR);

  // ---- III.4 dental charting and perio --------------------------------------------------
  await createTenantTable(knex, 'tooth_chart_snapshots', (t) => {
    tenantRef(t, 'patient_id', 'patients', { nullable: false });
    tenantRef(t, 'encounter_id', 'encounters');
    t.text('numbering_system').comment('tooth numbering code system, e.g. UNIVERSAL, FDI, PALMER');
    t.jsonb('chart_json').notNullable();
    t.timestamp('charted_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    globalRef(t, 'charted_by_id', 'users');
  }, FHIR);

  await createTenantTable(knex, 'perio_measurements', (t) => {
    tenantRef(t, 'patient_id', 'patients', { nullable: false });
    tenantRef(t, 'encounter_id', 'encounters');
    t.text('tooth_number').notNullable();
    t.text('site').notNullable().comment('e.g. M, B, D, L, MB, DB, ML, DL');
    t.decimal('pocket_depth_mm', 4, 1);
    t.decimal('gingival_margin_mm', 4, 1);
    t.boolean('bleeding_on_probing');
    t.smallint('mobility_grade');
    t.text('furcation_involvement');
    t.timestamp('measured_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  }, FHIR);

  // ---- III.5 treatment plans, procedures and outcomes -------------------------------------
  await createTenantTable(knex, 'treatment_plans', (t) => {
    tenantRef(t, 'patient_id', 'patients', { nullable: false });
    globalRef(t, 'created_by_id', 'users');
    t.text('title');
    t.enu('status', ['DRAFT', 'PRESENTED', 'ACCEPTED', 'DECLINED', 'PARTIALLY_ACCEPTED', 'COMPLETED']).notNullable().defaultTo('DRAFT');
    money(t, 'total_estimated_cost');
    money(t, 'estimated_insurance_coverage');
    t.text('notes');
    t.timestamp('presented_at', { useTz: true });
    t.timestamp('accepted_at', { useTz: true });
  }, FHIR);

  await createTenantTable(knex, 'treatment_plan_items', (t) => {
    tenantRef(t, 'plan_id', 'treatment_plans', { nullable: false, onDelete: 'CASCADE' });
    t.text('cdt_code').notNullable();
    t.text('tooth_number');
    t.text('surface');
    t.integer('phase');
    t.integer('sequence_order');
    money(t, 'estimated_fee');
    money(t, 'estimated_patient_portion');
    t.text('status').comment('e.g. PLANNED, ACCEPTED, DECLINED, COMPLETED');
  }, FHIR);

  await createTenantTable(knex, 'procedures', (t) => {
    tenantRef(t, 'patient_id', 'patients', { nullable: false });
    tenantRef(t, 'encounter_id', 'encounters');
    globalRef(t, 'provider_id', 'users');
    t.text('cdt_code').notNullable();
    t.text('tooth_number');
    t.text('surface');
    t.timestamp('start_at', { useTz: true });
    t.timestamp('end_at', { useTz: true });
    t.text('status').comment('e.g. PREPARATION, IN_PROGRESS, COMPLETED, NOT_DONE, ENTERED_IN_ERROR');
    t.text('notes');
  }, FHIR);

  // The seed's "links" between treatment plans and procedures (many-to-many).
  await createTenantTable(knex, 'treatment_plan_procedures', (t) => {
    tenantRef(t, 'plan_id', 'treatment_plans', { nullable: false, onDelete: 'CASCADE' });
    tenantRef(t, 'plan_item_id', 'treatment_plan_items', { onDelete: 'CASCADE' });
    tenantRef(t, 'procedure_id', 'procedures', { nullable: false, onDelete: 'CASCADE' });
    t.unique(['tenant_id', 'plan_id', 'procedure_id'], { indexName: 'treatment_plan_procedures_key' });
  }, { timestamps: true });

  await createTenantTable(knex, 'procedure_materials', (t) => {
    tenantRef(t, 'procedure_id', 'procedures', { nullable: false, onDelete: 'CASCADE' });
    globalRef(t, 'material_id', 'material_reference', { nullable: false });
    t.decimal('quantity', 12, 3);
    t.text('unit');
    t.text('lot_number');
    t.date('expiry_date');
    t.text('notes');
  }, PHI);

  await createTenantTable(knex, 'clinical_outcomes', (t) => {
    tenantRef(t, 'patient_id', 'patients', { nullable: false });
    tenantRef(t, 'procedure_id', 'procedures');
    tenantRef(t, 'encounter_id', 'encounters');
    t.text('outcome_type');
    t.jsonb('outcome_scores');
    t.jsonb('complications');
    t.boolean('is_success').comment('null until assessed');
    t.boolean('is_failure');
    t.timestamp('assessed_at', { useTz: true });
    globalRef(t, 'assessed_by_id', 'users');
    t.text('notes');
    t.check('procedure_id is not null or encounter_id is not null', {}, 'clinical_outcomes_subject');
  }, PHI);
}

export async function down(knex: Knex): Promise<void> {
  await dropTables(knex, TABLES);
}
