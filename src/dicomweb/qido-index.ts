// What ingest stores so that a QIDO-RS query is one indexed SQL query: per study, series and
// instance row, the attributes the level returns (DICOM JSON) and the keys its matching compares.
import type { DicomJsonDataSet, ParsedInstance } from '../dicom/index.ts';
import { attribute, levelAttributes, pickAttributes } from './qido-attributes.ts';
import { INSTANCE } from './qido-model.ts';
import { dateKey, dateTimeKey, personNameSearchText, timeKey } from './qido-values.ts';

const PERFORMED_PROCEDURE_STEP_START_DATE = attribute('PerformedProcedureStepStartDate').tag;
const PERFORMED_PROCEDURE_STEP_START_TIME = attribute('PerformedProcedureStepStartTime').tag;
const INSTANCE_RETURNED = INSTANCE.required.map(({ tag }) => tag);

function text(dataSet: DicomJsonDataSet, tag: string): string | undefined {
  const value = dataSet[tag]?.Value?.[0];
  return typeof value === 'string' ? value : undefined;
}

const isoDateOf = (value: string | undefined) => {
  const key = value === undefined ? undefined : dateKey(value);
  return key ? `${key.slice(0, 4)}-${key.slice(4, 6)}-${key.slice(6)}` : null;
};
const timeKeyOf = (value: string | undefined) => (value === undefined ? null : timeKey(value) ?? null);

export function studyQueryColumns(instance: ParsedInstance) {
  const record = instance.attributes;
  return {
    dicom_study_id: record.StudyID ?? null,
    study_time_key: timeKeyOf(record.StudyTime),
    patient_name_words: personNameSearchText(record.PatientName),
    referring_physician_words: personNameSearchText(record.ReferringPhysicianName),
    qido_attributes: levelAttributes(instance.dicomJson, 'study'),
  };
}

export function seriesQueryColumns(instance: ParsedInstance) {
  const record = instance.attributes;
  return {
    series_date: isoDateOf(record.SeriesDate),
    series_time_key: timeKeyOf(record.SeriesTime),
    performed_procedure_step_start_date: isoDateOf(text(instance.dicomJson, PERFORMED_PROCEDURE_STEP_START_DATE)),
    performed_procedure_step_start_time_key: timeKeyOf(text(instance.dicomJson, PERFORMED_PROCEDURE_STEP_START_TIME)),
    qido_attributes: levelAttributes(instance.dicomJson, 'series'),
  };
}

export function objectQueryColumns(instance: ParsedInstance) {
  const acquired = instance.attributes.AcquisitionDateTime;
  return {
    acquisition_datetime_key: acquired === undefined ? null : dateTimeKey(acquired) ?? null,
    qido_attributes: pickAttributes(instance.dicomJson, INSTANCE_RETURNED),
  };
}
