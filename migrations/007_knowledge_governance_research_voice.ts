// Section VIII (knowledge, content and communication), IX.2 (custom fields and workflows), the
// compliance tables of II.3 (consents, PHI access logs, retention policies, legal holds), the
// research tables of XI and the voice tables of XIV.
import type { Knex } from 'knex';
import { TENANT_ROLE, confidence, createTenantTable, dropTables, globalRef, polymorphicId, tenantRef } from './_schema.ts';

const PHI = { phi: true } as const;
const FHIR = { phi: true, versioned: true } as const;

const TABLES = [
  'knowledge_documents', 'knowledge_versions', 'knowledge_localizations',
  'documents', 'conversations', 'conversation_participants', 'messages', 'notifications', 'referrals',
  'custom_field_definitions', 'custom_field_values', 'workflows', 'workflow_instances', 'workflow_transitions',
  'consents', 'phi_access_logs', 'data_retention_policies', 'legal_holds',
  'research_datasets', 'research_dataset_members', 'research_access_logs',
  'voice_sessions', 'voice_utterances', 'voice_recordings',
];

export async function up(knex: Knex): Promise<void> {
  // ---- VIII.1 knowledge base -------------------------------------------------------------
  await createTenantTable(knex, 'knowledge_documents', (t) => {
    t.text('slug').notNullable();
    t.text('title').notNullable();
    t.text('document_type').notNullable().comment('e.g. PROTOCOL, EVIDENCE_SUMMARY, PATIENT_EDUCATION');
    t.text('status').notNullable().defaultTo('DRAFT').comment('e.g. DRAFT, IN_REVIEW, PUBLISHED, RETIRED');
    t.specificType('tags', 'text[]').notNullable().defaultTo('{}');
    globalRef(t, 'owner_user_id', 'users');
    t.unique(['tenant_id', 'slug']);
  }, { timestamps: true });

  await createTenantTable(knex, 'knowledge_versions', (t) => {
    tenantRef(t, 'document_id', 'knowledge_documents', { nullable: false, onDelete: 'CASCADE' });
    t.integer('version_number').notNullable();
    t.text('content').notNullable();
    t.text('content_format').notNullable().defaultTo('MARKDOWN');
    t.text('change_summary');
    globalRef(t, 'author_id', 'users');
    globalRef(t, 'reviewed_by_id', 'users');
    t.timestamp('reviewed_at', { useTz: true });
    globalRef(t, 'approved_by_id', 'users');
    t.timestamp('approved_at', { useTz: true });
    t.text('status').notNullable().defaultTo('DRAFT').comment('e.g. DRAFT, IN_REVIEW, APPROVED, SUPERSEDED');
    t.unique(['tenant_id', 'document_id', 'version_number']);
  }, { timestamps: true });

  await createTenantTable(knex, 'knowledge_localizations', (t) => {
    tenantRef(t, 'version_id', 'knowledge_versions', { nullable: false, onDelete: 'CASCADE' });
    t.text('locale').notNullable().comment('BCP 47 tag, region included (e.g. en-US, fr-CA)');
    t.text('title').notNullable();
    t.text('content').notNullable();
    globalRef(t, 'translated_by_id', 'users');
    t.unique(['tenant_id', 'version_id', 'locale']);
  }, { timestamps: true });

  // ---- VIII.2 communication and collaboration ----------------------------------------------
  await createTenantTable(knex, 'documents', (t) => {
    t.enu('owner_type', ['PATIENT', 'ENCOUNTER', 'CLAIM', 'TENANT']).notNullable();
    polymorphicId(t, 'owner_id', 'points at patients, encounters, claims or tenants according to owner_type', { nullable: false });
    t.text('document_type').notNullable().comment('e.g. CONSENT_FORM, REPORT, REFERRAL_LETTER, IMAGE');
    t.text('title');
    t.text('mime_type');
    t.text('storage_uri').notNullable();
    t.text('hash');
    t.bigInteger('byte_size');
    t.timestamp('signed_at', { useTz: true });
    globalRef(t, 'signer_id', 'users');
  }, FHIR);

  await createTenantTable(knex, 'conversations', (t) => {
    t.text('conversation_type').notNullable().comment('e.g. PATIENT_MESSAGING, TEAM_CHAT, CASE_DISCUSSION');
    t.text('subject');
    tenantRef(t, 'patient_id', 'patients');
    tenantRef(t, 'encounter_id', 'encounters');
    t.text('status').notNullable().defaultTo('OPEN').comment('e.g. OPEN, CLOSED, ARCHIVED');
    t.timestamp('last_message_at', { useTz: true });
  }, PHI);

  await createTenantTable(knex, 'conversation_participants', (t) => {
    tenantRef(t, 'conversation_id', 'conversations', { nullable: false, onDelete: 'CASCADE' });
    globalRef(t, 'user_id', 'users');
    tenantRef(t, 'patient_id', 'patients');
    t.enu('role', ['AUTHOR', 'PARTICIPANT', 'OBSERVER']).notNullable().defaultTo('PARTICIPANT');
    t.timestamp('joined_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('left_at', { useTz: true });
    t.timestamp('last_read_at', { useTz: true });
    t.check('(user_id is null) <> (patient_id is null)', {}, 'conversation_participants_one_party');
  }, { timestamps: true });
  await knex.raw(`create unique index conversation_participants_user_key
    on conversation_participants (tenant_id, conversation_id, user_id) where user_id is not null`);
  await knex.raw(`create unique index conversation_participants_patient_key
    on conversation_participants (tenant_id, conversation_id, patient_id) where patient_id is not null`);

  // Backs FHIR Communication, hence versioned.
  await createTenantTable(knex, 'messages', (t) => {
    tenantRef(t, 'conversation_id', 'conversations', { nullable: false, onDelete: 'CASCADE' });
    t.enu('sender_type', ['USER', 'SYSTEM', 'PATIENT']).notNullable();
    globalRef(t, 'sender_user_id', 'users');
    tenantRef(t, 'sender_patient_id', 'patients');
    t.enu('content_type', ['TEXT', 'RICH_TEXT', 'FILE']).notNullable().defaultTo('TEXT');
    t.text('content');
    tenantRef(t, 'document_id', 'documents');
    t.timestamp('sent_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.text('delivery_state').comment('e.g. PENDING, SENT, DELIVERED, READ, FAILED');
    t.index(['tenant_id', 'conversation_id', 'sent_at']);
  }, FHIR);
  await knex.raw(`create index messages_content_fts on messages using gin (to_tsvector('english', coalesce(content, '')))`);

  await createTenantTable(knex, 'notifications', (t) => {
    globalRef(t, 'user_id', 'users');
    tenantRef(t, 'patient_id', 'patients');
    t.enu('channel', ['IN_APP', 'EMAIL', 'SMS']).notNullable();
    t.text('notification_type').notNullable();
    t.jsonb('payload');
    t.text('status').notNullable().defaultTo('PENDING').comment('e.g. PENDING, SENT, FAILED, READ');
    t.timestamp('scheduled_at', { useTz: true });
    t.timestamp('sent_at', { useTz: true });
    t.timestamp('read_at', { useTz: true });
    t.text('error_message');
    t.index(['tenant_id', 'status', 'scheduled_at']);
  }, { timestamps: true });

  // Cross-provider or cross-tenant referrals and second-opinion requests.
  await createTenantTable(knex, 'referrals', (t) => {
    tenantRef(t, 'patient_id', 'patients', { nullable: false });
    tenantRef(t, 'encounter_id', 'encounters');
    t.text('referral_type').notNullable().defaultTo('REFERRAL').comment('e.g. REFERRAL, SECOND_OPINION');
    globalRef(t, 'referring_provider_id', 'users');
    globalRef(t, 'referred_to_provider_id', 'users');
    globalRef(t, 'referred_to_tenant_id', 'tenants');
    t.text('referred_to_name').comment('provider or organisation outside the platform');
    t.text('reason');
    t.text('urgency');
    t.text('status').notNullable().defaultTo('DRAFT').comment('e.g. DRAFT, SENT, ACCEPTED, DECLINED, COMPLETED');
    t.timestamp('referred_at', { useTz: true });
    t.timestamp('responded_at', { useTz: true });
    t.text('notes');
  }, FHIR);

  // ---- IX.2 custom fields and workflow -----------------------------------------------------
  await createTenantTable(knex, 'custom_field_definitions', (t) => {
    t.text('entity_type').notNullable().comment('e.g. PATIENT, ENCOUNTER, PROCEDURE');
    t.text('field_key').notNullable();
    t.text('label').notNullable();
    t.text('data_type').notNullable().comment('e.g. TEXT, NUMBER, DATE, BOOLEAN, JSON, CHOICE');
    t.jsonb('validation_rules');
    t.boolean('is_indexed').notNullable().defaultTo(false);
    t.boolean('is_required').notNullable().defaultTo(false);
    t.unique(['tenant_id', 'entity_type', 'field_key'], { indexName: 'custom_field_definitions_key' });
  }, { timestamps: true });

  // EAV values. The definition is referenced by its business key, so entity_type and
  // field_key cannot disagree with it.
  await createTenantTable(knex, 'custom_field_values', (t) => {
    t.text('entity_type').notNullable();
    polymorphicId(t, 'entity_id', 'points at the row of the table named by entity_type', { nullable: false });
    t.text('field_key').notNullable();
    t.text('value_text');
    t.specificType('value_number', 'numeric');
    t.jsonb('value_json');
    t.foreign(['tenant_id', 'entity_type', 'field_key']).references(['tenant_id', 'entity_type', 'field_key'])
      .inTable('custom_field_definitions').onDelete('CASCADE');
    t.index(['tenant_id', 'entity_type', 'field_key', 'value_text'], 'custom_field_values_value_idx');
    t.unique(['tenant_id', 'entity_type', 'entity_id', 'field_key'], { indexName: 'custom_field_values_key' });
  }, PHI);

  await createTenantTable(knex, 'workflows', (t) => {
    t.text('name').notNullable();
    t.text('workflow_type').notNullable().comment('e.g. AI_REVIEW, CLAIM_APPEAL');
    t.integer('version').notNullable().defaultTo(1);
    t.jsonb('definition').notNullable().comment('states and allowed transitions');
    t.boolean('is_active').notNullable().defaultTo(true);
    t.unique(['tenant_id', 'name', 'version']);
  }, { timestamps: true });

  await createTenantTable(knex, 'workflow_instances', (t) => {
    tenantRef(t, 'workflow_id', 'workflows', { nullable: false });
    t.text('entity_type').notNullable();
    polymorphicId(t, 'entity_id', 'the case the instance is about, in the table named by entity_type', { nullable: false });
    t.text('current_state').notNullable();
    t.text('status').notNullable().defaultTo('OPEN').comment('e.g. OPEN, COMPLETED, CANCELLED');
    globalRef(t, 'assigned_to_user_id', 'users');
    t.timestamp('started_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('completed_at', { useTz: true });
  }, { timestamps: true });

  await createTenantTable(knex, 'workflow_transitions', (t) => {
    tenantRef(t, 'instance_id', 'workflow_instances', { nullable: false, onDelete: 'CASCADE' });
    t.text('from_state');
    t.text('to_state').notNullable();
    t.text('action');
    t.enu('actor_type', ['USER', 'SYSTEM', 'API_CLIENT']).notNullable().defaultTo('USER');
    globalRef(t, 'actor_user_id', 'users');
    t.text('comment');
    t.jsonb('metadata');
    t.timestamp('transitioned_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  // ---- II.3 audit and compliance -------------------------------------------------------------
  await createTenantTable(knex, 'consents', (t) => {
    t.enu('subject_type', ['PATIENT', 'PROVIDER', 'TENANT']).notNullable();
    polymorphicId(t, 'subject_id', 'points at patients, users or tenants according to subject_type', { nullable: false });
    t.enu('consent_type', ['AI_ANALYSIS', 'RESEARCH', 'DATA_SHARING', 'MARKETING', 'RECORDING']).notNullable();
    t.jsonb('scope').comment('which entities are covered');
    t.timestamp('granted_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('revoked_at', { useTz: true });
    t.enu('source', ['PORTAL', 'IN_CLINIC', 'PAPER_SCAN', 'OTHER']);
    t.text('document_uri').comment('PDF or image in object storage');
    t.index(['tenant_id', 'subject_type', 'subject_id', 'consent_type']);
  }, FHIR);

  // Append-only for the application (no UPDATE or DELETE grant to cusp_app).
  await createTenantTable(knex, 'phi_access_logs', (t) => {
    t.enu('actor_type', ['USER', 'SYSTEM', 'API_CLIENT']).notNullable();
    globalRef(t, 'user_id', 'users');
    tenantRef(t, 'api_client_id', 'api_clients');
    tenantRef(t, 'patient_id', 'patients');
    t.text('resource_type');
    polymorphicId(t, 'resource_id', 'the PHI record accessed, in the table named by resource_type');
    t.text('access_type').notNullable().comment('e.g. VIEW, SEARCH, CREATE, UPDATE, DELETE, EXPORT, PRINT');
    t.text('purpose').comment('e.g. TREATMENT, PAYMENT, OPERATIONS, RESEARCH');
    t.boolean('break_glass').notNullable().defaultTo(false);
    t.timestamp('accessed_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.text('request_id');
    t.specificType('ip_address', 'inet');
    t.text('user_agent');
    t.index(['tenant_id', 'patient_id', 'accessed_at']);
  }, PHI);
  await knex.raw(`revoke update, delete on phi_access_logs from ${TENANT_ROLE}`);

  await createTenantTable(knex, 'data_retention_policies', (t) => {
    t.enu('data_class', ['PATIENT_RECORD', 'IMAGING', 'LOGS', 'ANALYTICS', 'AUDIO']).notNullable();
    t.integer('min_years');
    t.integer('max_years');
    t.text('archival_strategy').comment('e.g. DELETE, ARCHIVE_COLD_STORAGE, ANONYMISE');
    t.unique(['tenant_id', 'data_class']);
  }, { timestamps: true });

  await createTenantTable(knex, 'legal_holds', (t) => {
    t.text('name').notNullable();
    t.text('case_reference');
    t.text('reason');
    t.text('entity_type').comment('null with entity_id null: scope given by `scope`');
    polymorphicId(t, 'entity_id', 'the record under hold, in the table named by entity_type');
    t.jsonb('scope');
    globalRef(t, 'placed_by_id', 'users');
    t.timestamp('placed_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    globalRef(t, 'released_by_id', 'users');
    t.timestamp('released_at', { useTz: true });
  }, { timestamps: true });

  // ---- XI research (de-identified datasets) --------------------------------------------------
  await createTenantTable(knex, 'research_datasets', (t) => {
    t.text('name').notNullable();
    t.text('description');
    t.text('purpose');
    t.enu('deidentification_method', ['SAFE_HARBOR', 'EXPERT_DETERMINATION']).notNullable();
    t.enu('required_consent_type', ['AI_ANALYSIS', 'RESEARCH', 'DATA_SHARING']).notNullable().defaultTo('RESEARCH');
    t.text('irb_reference');
    t.jsonb('criteria');
    t.text('status').notNullable().defaultTo('DRAFT').comment('e.g. DRAFT, FROZEN, RELEASED, RETIRED');
    globalRef(t, 'created_by_id', 'users');
    t.timestamp('frozen_at', { useTz: true });
    t.unique(['tenant_id', 'name']);
  }, { timestamps: true });

  await createTenantTable(knex, 'research_dataset_members', (t) => {
    tenantRef(t, 'dataset_id', 'research_datasets', { nullable: false, onDelete: 'CASCADE' });
    tenantRef(t, 'patient_id', 'patients', { nullable: false });
    tenantRef(t, 'consent_id', 'consents');
    t.text('pseudonym').notNullable().comment('the subject id used in the de-identified dataset');
    t.timestamp('included_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('excluded_at', { useTz: true });
    t.text('exclusion_reason');
    t.unique(['tenant_id', 'dataset_id', 'patient_id'], { indexName: 'research_dataset_members_patient_key' });
    t.unique(['tenant_id', 'dataset_id', 'pseudonym'], { indexName: 'research_dataset_members_pseudonym_key' });
  }, PHI);

  // Append-only for the application, like phi_access_logs.
  await createTenantTable(knex, 'research_access_logs', (t) => {
    tenantRef(t, 'dataset_id', 'research_datasets', { nullable: false });
    globalRef(t, 'user_id', 'users');
    tenantRef(t, 'api_client_id', 'api_clients');
    t.text('action').notNullable().comment('e.g. VIEW, QUERY, EXPORT, DOWNLOAD');
    t.text('purpose');
    t.timestamp('accessed_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.specificType('ip_address', 'inet');
    t.jsonb('metadata');
  });
  await knex.raw(`revoke update, delete on research_access_logs from ${TENANT_ROLE}`);

  // ---- XIV voice -------------------------------------------------------------------------------
  await createTenantTable(knex, 'voice_sessions', (t) => {
    globalRef(t, 'user_id', 'users');
    tenantRef(t, 'api_client_id', 'api_clients');
    tenantRef(t, 'patient_id', 'patients');
    tenantRef(t, 'encounter_id', 'encounters');
    t.enu('channel', ['MOBILE_APP', 'BROWSER', 'PHONE', 'DEVICE']).notNullable();
    t.timestamp('started_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('ended_at', { useTz: true });
    t.jsonb('meta').comment('device, locale, ASR engine, ...');
  }, PHI);

  await createTenantTable(knex, 'voice_utterances', (t) => {
    tenantRef(t, 'session_id', 'voice_sessions', { nullable: false, onDelete: 'CASCADE' });
    t.integer('sequence_no').notNullable();
    t.enu('speaker', ['USER', 'PATIENT', 'AGENT']).notNullable();
    t.text('transcript');
    t.boolean('is_final').notNullable().defaultTo(true);
    t.text('intent').comment('e.g. create_note, schedule_appointment');
    t.jsonb('entities').comment('slots: tooth numbers, procedure codes, dates, ...');
    confidence(t, 'asr_confidence');
    t.index(['tenant_id', 'session_id', 'sequence_no']);
  }, PHI);

  await createTenantTable(knex, 'voice_recordings', (t) => {
    tenantRef(t, 'session_id', 'voice_sessions', { nullable: false, onDelete: 'CASCADE' });
    tenantRef(t, 'utterance_id', 'voice_utterances', { onDelete: 'CASCADE' });
    tenantRef(t, 'consent_id', 'consents');
    t.text('audio_uri').notNullable().comment('object storage key; no audio bytes in the database');
    t.enu('format', ['OPUS', 'WAV', 'MP3']).notNullable();
    t.integer('duration_ms');
    t.integer('sample_rate_hz');
    t.text('hash');
    t.boolean('is_redacted').notNullable().defaultTo(false);
    t.enu('storage_class', ['HOT', 'ARCHIVE']).notNullable().defaultTo('HOT');
    t.timestamp('retention_until', { useTz: true });
    t.index(['retention_until']);
  }, PHI);
}

export async function down(knex: Knex): Promise<void> {
  await dropTables(knex, TABLES);
}
