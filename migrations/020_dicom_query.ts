// What QIDO-RS (DICOM PS3.18 10.6) matches and returns, precomputed at ingest: each level's
// attributes in the DICOM JSON model, sortable keys for time and datetime range matching, person
// names folded for fuzzy matching, and the indexes the matching and the default order use.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('imaging_studies', (t) => {
    t.text('dicom_study_id').comment('DICOM Study ID (0020,0010)');
    t.text('study_time_key').comment('StudyTime as HHMMSS.FFFFFF, for range matching and ordering');
    t.text('patient_name_words').comment('PatientName folded for fuzzy matching: " word word ..." lower case, accents removed');
    t.text('referring_physician_words').comment('ReferringPhysicianName folded like patient_name_words');
    t.jsonb('qido_attributes').comment('patient and study level attributes of the first stored instance, DICOM JSON');
  });
  await knex.raw(`create index imaging_studies_default_order_idx on imaging_studies
    (tenant_id, study_date desc nulls last, study_time_key desc nulls last, study_uid)`);
  await knex.raw('create index imaging_studies_dicom_study_id_idx on imaging_studies (tenant_id, dicom_study_id)');
  await knex.raw('create index imaging_studies_referring_physician_idx on imaging_studies (tenant_id, lower(referring_physician_name) text_pattern_ops)');
  await knex.raw('create index imaging_studies_patient_birth_date_idx on imaging_studies (tenant_id, patient_birth_date)');
  await knex.raw('create index imaging_studies_qido_attributes_idx on imaging_studies using gin (qido_attributes jsonb_path_ops)');

  await knex.schema.alterTable('imaging_series', (t) => {
    t.date('series_date');
    t.text('series_time_key').comment('SeriesTime as HHMMSS.FFFFFF');
    t.date('performed_procedure_step_start_date');
    t.text('performed_procedure_step_start_time_key').comment('PerformedProcedureStepStartTime as HHMMSS.FFFFFF');
    t.jsonb('qido_attributes').comment('series level attributes of the first stored instance, DICOM JSON');
  });
  await knex.raw(`create index imaging_series_study_order_idx on imaging_series
    (tenant_id, study_id, series_number nulls last, series_uid)`);
  await knex.raw('create index imaging_series_date_idx on imaging_series (tenant_id, series_date)');
  await knex.raw('create index imaging_series_qido_attributes_idx on imaging_series using gin (qido_attributes jsonb_path_ops)');

  await knex.schema.alterTable('imaging_objects', (t) => {
    t.text('acquisition_datetime_key').comment('AcquisitionDateTime as YYYYMMDDHHMMSS.FFFFFF (offset dropped)');
    t.jsonb('qido_attributes').comment('the instance attributes QIDO-RS returns by default (PS3.18 Table 10.6.3-5), DICOM JSON');
  });
  await knex.raw(`create index imaging_objects_series_order_idx on imaging_objects
    (tenant_id, series_id, instance_number nulls last, sop_instance_uid)`);
  await knex.raw('create index imaging_objects_sop_class_idx on imaging_objects (tenant_id, sop_class_uid)');
  await knex.raw('create index imaging_objects_acquisition_idx on imaging_objects (tenant_id, acquisition_datetime_key)');

  await knex.raw('create index imaging_object_teeth_code_idx on imaging_object_teeth (tenant_id, tooth_code)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop index if exists imaging_object_teeth_code_idx');
  for (const index of ['imaging_objects_series_order_idx', 'imaging_objects_sop_class_idx', 'imaging_objects_acquisition_idx']) {
    await knex.raw(`drop index if exists ${index}`);
  }
  await knex.schema.alterTable('imaging_objects', (t) => {
    t.dropColumns('acquisition_datetime_key', 'qido_attributes');
  });
  for (const index of ['imaging_series_study_order_idx', 'imaging_series_date_idx', 'imaging_series_qido_attributes_idx']) {
    await knex.raw(`drop index if exists ${index}`);
  }
  await knex.schema.alterTable('imaging_series', (t) => {
    t.dropColumns('series_date', 'series_time_key', 'performed_procedure_step_start_date', 'performed_procedure_step_start_time_key', 'qido_attributes');
  });
  for (const index of [
    'imaging_studies_default_order_idx', 'imaging_studies_dicom_study_id_idx', 'imaging_studies_referring_physician_idx',
    'imaging_studies_patient_birth_date_idx', 'imaging_studies_qido_attributes_idx',
  ]) {
    await knex.raw(`drop index if exists ${index}`);
  }
  await knex.schema.alterTable('imaging_studies', (t) => {
    t.dropColumns('dicom_study_id', 'study_time_key', 'patient_name_words', 'referring_physician_words', 'qido_attributes');
  });
}
