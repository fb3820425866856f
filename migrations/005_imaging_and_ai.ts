// Section IV of the primary schema: imaging studies, series, objects and annotations, with the
// extra columns DICOMweb ingest indexes (QIDO-RS matching), the AI model catalogue, deployments,
// inference jobs, predictions, reviews and ground-truth links.
import type { Knex } from 'knex';
import {
  createGlobalTable, createTenantTable, confidence, dropTables, enableSharedTenantIsolation,
  globalRef, polymorphicId, tenantRef,
} from './_schema.ts';

const FHIR = { phi: true, versioned: true } as const;

const TABLES = [
  'imaging_studies', 'imaging_series', 'imaging_objects', 'imaging_object_teeth', 'image_annotations',
  'ai_models', 'ai_model_versions', 'ai_model_deployments', 'ai_inference_jobs', 'ai_predictions',
  'ai_review_events', 'ai_outcome_links',
];

export async function up(knex: Knex): Promise<void> {
  // ---- IV.1 imaging ------------------------------------------------------------------------
  await createTenantTable(knex, 'imaging_studies', (t) => {
    tenantRef(t, 'patient_id', 'patients', { nullable: false });
    tenantRef(t, 'encounter_id', 'encounters');
    t.text('study_uid').notNullable().comment('DICOM Study Instance UID (0020,000D)');
    t.enu('modality', ['INTRAORAL', 'PANORAMIC', 'CBCT', 'PHOTO', 'VIDEO']).comment('dental category; DICOM modality codes are in modalities_in_study');
    t.text('body_part');
    t.timestamp('acquisition_datetime', { useTz: true });
    globalRef(t, 'referring_provider_id', 'users');
    globalRef(t, 'performing_device_id', 'equipment_reference');
    t.text('source_system').comment('PMS/EHR/PACS identifier the study came from');
    // DICOM attributes indexed for QIDO-RS and FHIR ImagingStudy.
    t.text('accession_number');
    t.text('study_description');
    t.date('study_date');
    t.text('study_time').comment('DICOM TM as received');
    t.text('referring_physician_name');
    t.text('patient_name').comment('DICOM PN as received (0010,0010)');
    t.text('patient_birth_date').comment('DICOM DA as received (0010,0030)');
    t.text('patient_sex');
    t.text('patient_dicom_id').comment('DICOM Patient ID (0010,0020)');
    t.text('issuer_of_patient_id');
    t.specificType('modalities_in_study', 'text[]').notNullable().defaultTo('{}');
    t.integer('number_of_series').notNullable().defaultTo(0);
    t.integer('number_of_instances').notNullable().defaultTo(0);
    t.enu('status', ['REGISTERED', 'AVAILABLE', 'CANCELLED', 'ENTERED_IN_ERROR', 'UNKNOWN']).notNullable().defaultTo('AVAILABLE')
      .comment('FHIR ImagingStudy.status');
    t.unique(['tenant_id', 'study_uid']);
    t.index(['tenant_id', 'study_date']);
    t.index(['tenant_id', 'accession_number']);
    t.index(['tenant_id', 'patient_dicom_id']);
  }, FHIR);
  // text_pattern_ops serves both equality and prefix (wildcard) matching of PatientName.
  await knex.raw('create index imaging_studies_patient_name_idx on imaging_studies (tenant_id, lower(patient_name) text_pattern_ops)');
  await knex.raw('create index imaging_studies_modalities_idx on imaging_studies using gin (modalities_in_study)');

  await createTenantTable(knex, 'imaging_series', (t) => {
    tenantRef(t, 'study_id', 'imaging_studies', { nullable: false, onDelete: 'CASCADE' });
    t.text('series_uid').notNullable().comment('DICOM Series Instance UID (0020,000E)');
    t.text('modality').comment('DICOM modality code, e.g. IO, PX, CT, XC');
    t.integer('series_number');
    t.text('series_description');
    t.text('body_part_examined');
    t.integer('number_of_instances').notNullable().defaultTo(0);
    t.jsonb('metadata');
    t.unique(['tenant_id', 'series_uid']);
    t.index(['tenant_id', 'modality']);
  }, FHIR);

  await createTenantTable(knex, 'imaging_objects', (t) => {
    tenantRef(t, 'study_id', 'imaging_studies', { nullable: false, onDelete: 'CASCADE' });
    tenantRef(t, 'series_id', 'imaging_series', { onDelete: 'CASCADE' });
    t.text('sop_instance_uid').comment('DICOM SOP Instance UID (0008,0018), for DICOM objects');
    t.text('sop_class_uid');
    t.enu('object_type', ['DICOM', 'JPEG', 'PNG', 'STL', 'MP4']).notNullable();
    t.text('storage_uri').comment('object storage key; null while CREATING');
    t.text('hash');
    t.bigInteger('byte_size');
    t.integer('width');
    t.integer('height');
    t.integer('depth_slices').comment('for CBCT');
    t.integer('number_of_frames');
    t.text('transfer_syntax_uid');
    t.integer('instance_number');
    t.boolean('is_original').notNullable().defaultTo(true);
    t.jsonb('processing_pipeline');
    t.enu('status', ['CREATING', 'CREATED']).notNullable().defaultTo('CREATING');
    t.jsonb('dicom_json').comment('DICOM JSON model of the instance metadata (bulk data excluded)');
    t.jsonb('frame_offsets').comment('byte offsets of the frames in the stored object');
    t.unique(['tenant_id', 'sop_instance_uid']);
  }, FHIR);

  // Teeth named in the Primary Anatomic Structure Sequence (0008,2228) of an object, so that
  // searches by tooth do not scan dicom_json.
  await createTenantTable(knex, 'imaging_object_teeth', (t) => {
    tenantRef(t, 'object_id', 'imaging_objects', { nullable: false, onDelete: 'CASCADE' });
    t.text('tooth_code').notNullable();
    t.text('code_system').notNullable().comment('coding scheme designator, e.g. SCT, ISO3950');
    t.text('code_meaning');
    t.unique(['tenant_id', 'object_id', 'code_system', 'tooth_code'], { indexName: 'imaging_object_teeth_key' });
    t.index(['tenant_id', 'code_system', 'tooth_code'], 'imaging_object_teeth_tooth_idx');
  });

  await createTenantTable(knex, 'image_annotations', (t) => {
    tenantRef(t, 'imaging_object_id', 'imaging_objects', { nullable: false, onDelete: 'CASCADE' });
    t.enu('source_type', ['AI', 'USER']).notNullable();
    globalRef(t, 'author_user_id', 'users');
    t.enu('annotation_type', ['BOUNDING_BOX', 'MASK', 'MEASUREMENT', 'LABEL']).notNullable();
    t.jsonb('geometry');
    t.text('label_code').comment('condition code (code_values)');
    confidence(t, 'confidence');
    t.integer('version').notNullable().defaultTo(1);
  }, FHIR);

  // ---- IV.2 AI models and deployment ------------------------------------------------------
  await createGlobalTable(knex, 'ai_models', (t) => {
    t.text('name').notNullable().unique();
    t.text('description');
    t.enu('domain', ['CARIES', 'PERIO', 'PATHOLOGY', 'ORTHO', 'IMPLANT', 'CDS']).notNullable();
    t.text('vendor').comment('INTERNAL, or the external vendor tag');
    t.enu('regulatory_class', ['FDA_510K', 'CE_MDR', 'EXPERIMENTAL']).notNullable().defaultTo('EXPERIMENTAL');
  }, { timestamps: true });

  await createGlobalTable(knex, 'ai_model_versions', (t) => {
    globalRef(t, 'model_id', 'ai_models', { nullable: false, onDelete: 'CASCADE' });
    t.text('version_tag').notNullable();
    t.text('artifact_uri');
    t.specificType('input_types', 'text[]');
    t.specificType('output_types', 'text[]');
    t.jsonb('performance_metrics').comment('sensitivity, specificity, AUC, ...');
    t.timestamp('validated_on', { useTz: true });
    t.text('validation_summary_uri');
    t.text('sbom_uri');
    t.unique(['model_id', 'version_tag']);
  }, { timestamps: true });

  // tenant_id null: a global deployment (every tenant); otherwise one tenant's.
  await knex.schema.createTable('ai_model_deployments', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.uuid('tenant_id').references('id').inTable('tenants').index().comment('null: a global deployment');
    globalRef(t, 'model_version_id', 'ai_model_versions', { nullable: false });
    t.enu('status', ['ROLLED_OUT', 'CANARY', 'DISABLED']).notNullable().defaultTo('CANARY');
    t.enu('rollout_strategy', ['PERCENTAGE', 'TENANT_GROUP', 'LOCATION_GROUP']);
    t.jsonb('rollout_config').comment('percentage, tenant group or location ids');
    globalRef(t, 'created_by_id', 'users');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw('create trigger ai_model_deployments_updated_at before update on ai_model_deployments for each row execute function cusp_set_updated_at()');
  await enableSharedTenantIsolation(knex, 'ai_model_deployments');

  // ---- IV.3 inference jobs and predictions -------------------------------------------------
  await createTenantTable(knex, 'ai_inference_jobs', (t) => {
    globalRef(t, 'model_version_id', 'ai_model_versions', { nullable: false });
    t.enu('input_type', ['IMAGING_STUDY', 'PATIENT_SNAPSHOT', 'TEXT_NOTE', 'MULTIMODAL']).notNullable();
    polymorphicId(t, 'input_ref_id', 'points at imaging_studies, patients, clinical_notes... according to input_type');
    t.enu('status', ['QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED']).notNullable().defaultTo('QUEUED');
    globalRef(t, 'requested_by_user_id', 'users');
    tenantRef(t, 'requested_by_client_id', 'api_clients');
    t.timestamp('started_at', { useTz: true });
    t.timestamp('completed_at', { useTz: true });
    t.jsonb('compute_env').comment('cloud region, GPU type');
    t.text('error_details');
  }, { timestamps: true });
  await knex.raw('create index ai_inference_jobs_model_status_idx on ai_inference_jobs (tenant_id, model_version_id, status, created_at)');

  await createTenantTable(knex, 'ai_predictions', (t) => {
    tenantRef(t, 'job_id', 'ai_inference_jobs', { nullable: false, onDelete: 'CASCADE' });
    tenantRef(t, 'patient_id', 'patients', { nullable: false });
    tenantRef(t, 'imaging_object_id', 'imaging_objects');
    t.enu('prediction_type', ['CARIES', 'BONE_LOSS', 'PATHOLOGY', 'RISK_SCORE', 'TREATMENT_RECOMMENDATION']).notNullable();
    t.text('code').comment('clinical concept (code_values)');
    t.text('tooth_number');
    confidence(t, 'confidence');
    t.text('severity');
    tenantRef(t, 'roi_ref', 'image_annotations');
    t.jsonb('raw_output');
  }, FHIR);

  await createTenantTable(knex, 'ai_review_events', (t) => {
    tenantRef(t, 'prediction_id', 'ai_predictions', { nullable: false, onDelete: 'CASCADE' });
    globalRef(t, 'reviewer_id', 'users');
    t.enu('review_action', ['CONFIRMED', 'REJECTED', 'EDITED']).notNullable();
    t.text('reason_code');
    t.text('comment');
    t.jsonb('edited_output');
    t.boolean('use_for_training').notNullable().defaultTo(false);
  }, { phi: true });

  await createTenantTable(knex, 'ai_outcome_links', (t) => {
    tenantRef(t, 'prediction_id', 'ai_predictions', { nullable: false, onDelete: 'CASCADE' });
    tenantRef(t, 'encounter_id', 'encounters');
    tenantRef(t, 'procedure_id', 'procedures');
    t.text('ground_truth_code');
    t.enu('ground_truth_source', ['PATHOLOGY_REPORT', 'FOLLOWUP_IMAGING', 'CLINICAL_NOTE']).notNullable();
    t.timestamp('evaluation_timestamp', { useTz: true });
    t.check('encounter_id is not null or procedure_id is not null', {}, 'ai_outcome_links_subject');
  }, { phi: true });
}

export async function down(knex: Knex): Promise<void> {
  await dropTables(knex, TABLES);
}
