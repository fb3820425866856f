// The QIDO-RS information model over the imaging tables, declared once per level: the attributes
// each level returns by default (PS3.18 Tables 10.6.3-3, -4 and -5), those the server computes,
// and the matching keys with the indexed column each is matched on (Table 10.6.1-5 and more).
import { attribute, type QueryLevel } from './qido-attributes.ts';
import type { RangeKind } from './qido-values.ts';

/** How a matching key is compared, and on which column (qualified by the level's table alias). */
export type Matcher =
  | { kind: 'uid'; column: string }
  /** Case-sensitive; single value or wildcards. */
  | { kind: 'text'; column: string }
  /** A code string: single value, wildcards, or a list of values (any of them). */
  | { kind: 'code'; column: string }
  /** A text[] of codes (ModalitiesInStudy): the row matches when one of its codes does. */
  | { kind: 'code-set'; column: string }
  /** Case-insensitive on `column`; fuzzy on `words` (see personNameSearchText). */
  | { kind: 'person-name'; column: string; words: string }
  /** DA, TM or DT ranges; `column` holds a date (iso) or a sortable key of qido-values.ts. */
  | { kind: 'range'; range: RangeKind; column: string; form: 'iso-date' | 'key' }
  | { kind: 'integer'; column: string };

export interface ReturnAttribute {
  tag: string;
  vr: string;
  /** Returned only when the instance has it (Type 3 and conditional attributes); otherwise present, empty if unknown. */
  whenPresent?: boolean;
}

/** A value the server computes: SQL building a DICOM JSON attribute; `?` stands for the service's base URL. */
export interface ComputedAttribute {
  tag: string;
  sql: string;
  usesBaseUrl?: boolean;
}

export interface LevelModel {
  table: string;
  alias: string;
  /** The unique key of the level. */
  uid: string;
  /** Precomputed DICOM JSON of the level's default return attributes. */
  returned: string;
  /** DICOM JSON of every attribute of the level (includefield=all and other includefields). */
  attributes: string;
  /** Rows a query may return: their instances are stored. */
  visible: string;
  required: ReturnAttribute[];
  computed: ComputedAttribute[];
  matchers: Map<string, Matcher>;
  /** The default order: stable, newest studies first, then series and instance numbers. */
  order: string[];
}

const ret = (keyword: string, options: { whenPresent?: boolean } = {}): ReturnAttribute => {
  const { tag, vr } = attribute(keyword);
  return { tag, vr, ...options };
};
const matchers = (entries: Record<string, Matcher>) => new Map(Object.entries(entries).map(([keyword, matcher]) => [attribute(keyword).tag, matcher]));
const json = (vr: string, valueSql: string) => `jsonb_build_object('vr', '${vr}', 'Value', jsonb_build_array(${valueSql}))`;

export const STUDY: LevelModel = {
  table: 'imaging_studies',
  alias: 'st',
  uid: attribute('StudyInstanceUID').tag,
  returned: 'st.qido_attributes',
  attributes: 'st.qido_attributes',
  visible: 'st.number_of_instances > 0',
  required: [
    ret('SpecificCharacterSet', { whenPresent: true }), ret('StudyDate'), ret('StudyTime'), ret('AccessionNumber'),
    ret('ReferringPhysicianName'), ret('TimezoneOffsetFromUTC', { whenPresent: true }), ret('PatientName'), ret('PatientID'),
    ret('PatientBirthDate'), ret('PatientSex'), ret('StudyInstanceUID'), ret('StudyID'),
  ],
  computed: [
    { tag: attribute('InstanceAvailability').tag, sql: json('CS', `'ONLINE'`) },
    {
      tag: attribute('ModalitiesInStudy').tag,
      sql: `case when cardinality(st.modalities_in_study) > 0 then jsonb_build_object('vr', 'CS', 'Value', to_jsonb(st.modalities_in_study)) else '{"vr":"CS"}'::jsonb end`,
    },
    { tag: attribute('NumberOfStudyRelatedSeries').tag, sql: json('IS', 'st.number_of_series') },
    { tag: attribute('NumberOfStudyRelatedInstances').tag, sql: json('IS', 'st.number_of_instances') },
    { tag: attribute('RetrieveURL').tag, sql: json('UR', `? || '/studies/' || st.study_uid`), usesBaseUrl: true },
  ],
  matchers: matchers({
    StudyInstanceUID: { kind: 'uid', column: 'st.study_uid' },
    StudyDate: { kind: 'range', range: 'date', column: 'st.study_date', form: 'iso-date' },
    StudyTime: { kind: 'range', range: 'time', column: 'st.study_time_key', form: 'key' },
    AccessionNumber: { kind: 'text', column: 'st.accession_number' },
    ModalitiesInStudy: { kind: 'code-set', column: 'st.modalities_in_study' },
    ReferringPhysicianName: { kind: 'person-name', column: 'st.referring_physician_name', words: 'st.referring_physician_words' },
    PatientName: { kind: 'person-name', column: 'st.patient_name', words: 'st.patient_name_words' },
    PatientID: { kind: 'text', column: 'st.patient_dicom_id' },
    IssuerOfPatientID: { kind: 'text', column: 'st.issuer_of_patient_id' },
    PatientBirthDate: { kind: 'range', range: 'date', column: 'st.patient_birth_date', form: 'key' },
    PatientSex: { kind: 'code', column: 'st.patient_sex' },
    StudyID: { kind: 'text', column: 'st.dicom_study_id' },
    StudyDescription: { kind: 'text', column: 'st.study_description' },
  }),
  order: ['st.study_date desc nulls last', 'st.study_time_key desc nulls last', 'st.study_uid'],
};

export const SERIES: LevelModel = {
  table: 'imaging_series',
  alias: 'se',
  uid: attribute('SeriesInstanceUID').tag,
  returned: 'se.qido_attributes',
  attributes: 'se.qido_attributes',
  visible: 'se.number_of_instances > 0',
  required: [
    ret('SpecificCharacterSet', { whenPresent: true }), ret('Modality'), ret('TimezoneOffsetFromUTC', { whenPresent: true }),
    ret('SeriesDescription'), ret('SeriesInstanceUID'), ret('SeriesNumber'),
    ret('PerformedProcedureStepStartDate', { whenPresent: true }), ret('PerformedProcedureStepStartTime', { whenPresent: true }),
    ret('RequestAttributesSequence', { whenPresent: true }),
  ],
  computed: [
    { tag: attribute('NumberOfSeriesRelatedInstances').tag, sql: json('IS', 'se.number_of_instances') },
    { tag: attribute('RetrieveURL').tag, sql: json('UR', `? || '/studies/' || st.study_uid || '/series/' || se.series_uid`), usesBaseUrl: true },
  ],
  matchers: matchers({
    SeriesInstanceUID: { kind: 'uid', column: 'se.series_uid' },
    Modality: { kind: 'code', column: 'se.modality' },
    SeriesNumber: { kind: 'integer', column: 'se.series_number' },
    SeriesDescription: { kind: 'text', column: 'se.series_description' },
    BodyPartExamined: { kind: 'code', column: 'se.body_part_examined' },
    SeriesDate: { kind: 'range', range: 'date', column: 'se.series_date', form: 'iso-date' },
    SeriesTime: { kind: 'range', range: 'time', column: 'se.series_time_key', form: 'key' },
    PerformedProcedureStepStartDate: { kind: 'range', range: 'date', column: 'se.performed_procedure_step_start_date', form: 'iso-date' },
    PerformedProcedureStepStartTime: { kind: 'range', range: 'time', column: 'se.performed_procedure_step_start_time_key', form: 'key' },
  }),
  order: ['se.series_number nulls last', 'se.series_uid'],
};

export const INSTANCE: LevelModel = {
  table: 'imaging_objects',
  alias: 'o',
  uid: attribute('SOPInstanceUID').tag,
  returned: 'o.qido_attributes',
  attributes: 'o.dicom_json',
  visible: `o.status = 'CREATED'`,
  required: [
    ret('SpecificCharacterSet', { whenPresent: true }), ret('SOPClassUID'), ret('SOPInstanceUID'),
    ret('TimezoneOffsetFromUTC', { whenPresent: true }), ret('InstanceNumber'), ret('Rows', { whenPresent: true }),
    ret('Columns', { whenPresent: true }), ret('BitsAllocated', { whenPresent: true }), ret('NumberOfFrames', { whenPresent: true }),
  ],
  computed: [
    { tag: attribute('InstanceAvailability').tag, sql: json('CS', `'ONLINE'`) },
    {
      tag: attribute('RetrieveURL').tag,
      sql: json('UR', `? || '/studies/' || st.study_uid || '/series/' || se.series_uid || '/instances/' || o.sop_instance_uid`),
      usesBaseUrl: true,
    },
  ],
  matchers: matchers({
    SOPInstanceUID: { kind: 'uid', column: 'o.sop_instance_uid' },
    SOPClassUID: { kind: 'uid', column: 'o.sop_class_uid' },
    InstanceNumber: { kind: 'integer', column: 'o.instance_number' },
    Rows: { kind: 'integer', column: 'o.height' },
    Columns: { kind: 'integer', column: 'o.width' },
    NumberOfFrames: { kind: 'integer', column: 'o.number_of_frames' },
    AcquisitionDateTime: { kind: 'range', range: 'datetime', column: 'o.acquisition_datetime_key', form: 'key' },
  }),
  order: ['o.instance_number nulls last', 'o.sop_instance_uid'],
};

export const MODEL: Record<QueryLevel, LevelModel> = { study: STUDY, series: SERIES, instance: INSTANCE };

/**
 * Teeth (PS3.18 does not name them; a dental extension): sequence matching on the Primary
 * Anatomic Structure Sequence's Code Value and Coding Scheme Designator, at every level, through
 * the imaging_object_teeth index.
 */
export const TEETH = {
  sequence: attribute('PrimaryAnatomicStructureSequence').tag,
  codeValue: attribute('CodeValue').tag,
  codingScheme: attribute('CodingSchemeDesignator').tag,
};
