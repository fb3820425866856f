// fhir4.ImagingStudy (https://hl7.org/fhir/R4/imagingstudy.html) over the imaging tables that DICOM
// ingest writes: imaging_studies, the series holding stored instances, their CREATED objects and
// the teeth those name. Read-only through FHIR (STOW-RS and C-STORE are its writers); each
// version is snapshotted from the views of migrations/021, which also serve search.
//
// - identifier: the Study Instance UID (urn:dicom:uid, urn:oid:…) and the accession number (ACSN).
// - status: "registered" while no instance is stored, then the study's status (available).
// - started: DICOM StudyDate and StudyTime carry no time zone. With the tenant's default time
//   zone the instant, with its offset; without one, the date alone (migrations/021).
// - referrer: a Practitioner reference when the study names a referring provider who is a
//   clinician of the tenant; otherwise the DICOM ReferringPhysicianName as Reference.display only
//   (no literal reference, so nothing resolves to the wrong person).
// - series.bodySite (one Coding): BodyPartExamined as SNOMED CT where DICOM PS3.16 Annex L maps
//   it, else the DICOM defined term in BODY_PART_SYSTEM. The teeth of an instance (Primary
//   Anatomic Structure Sequence) are TOOTH_EXTENSION codings on that instance; the bodysite
//   search matches both.
// - endpoint: the tenant's DICOMweb Endpoint (endpoint.ts), on the study and on each series.
import { compact, defineMapping, referenceTo, type Row } from '../mapping.ts';
import { dateParam, referenceParam, tokenParam } from '../search/declarations.ts';

export const DICOM_UID_SYSTEM = 'urn:dicom:uid';
export const DCM_SYSTEM = 'http://dicom.nema.org/resources/ontology/DCM';
export const SOP_CLASS_SYSTEM = 'urn:ietf:rfc:3986';
export const V2_0203 = 'http://terminology.hl7.org/CodeSystem/v2-0203';
export const IMAGING_STUDY_STATUS_SYSTEM = 'http://hl7.org/fhir/imagingstudy-status';
/** BodyPartExamined defined terms that have no SNOMED CT correspondence (migrations/021 lists the same). */
export const BODY_PART_SYSTEM = 'https://cusp.dental/fhir/CodeSystem/dicom-body-part-examined';
/** A tooth that an instance depicts (Primary Anatomic Structure Sequence, DICOM CID 4018/4019). */
export const TOOTH_EXTENSION = 'https://cusp.dental/fhir/StructureDefinition/imaging-instance-tooth';

const STUDY_SOURCE = 'imaging_studies';
const SERIES = 'imaging_series';
const IDENTIFIERS = { table: 'fhir_imaging_study_identifiers', foreignKey: 'study_id' };
const SERIES_ROWS = { table: 'fhir_imaging_study_series', foreignKey: 'study_id' };
const INSTANCES = { table: 'fhir_imaging_study_instances', foreignKey: 'study_id' };
const BODY_SITES = { table: 'fhir_imaging_study_body_sites', foreignKey: 'study_id' };

/** A DICOM UID as a FHIR identifier value or uri code. */
const oid = (uid: unknown) => `urn:oid:${String(uid)}`;
const text = (value: unknown) => (typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined);
const integer = (value: unknown) => (typeof value === 'number' ? value : undefined);

/** DICOM PN ("Family^Given^Middle^Prefix^Suffix", alphabetic group first) as a name to show. */
export function personNameText(value: unknown): string | undefined {
  const alphabetic = text(value)?.split('=')[0];
  if (!alphabetic) return undefined;
  const [family, given, middle, prefix, suffix] = alphabetic.split('^').map((part) => part.trim());
  return text([prefix, given, middle, family, suffix].filter(Boolean).join(' '));
}

function coding(system: unknown, code: unknown, display: unknown): fhir4.Coding | undefined {
  return text(code) ? compact({ system: text(system), code: text(code), display: text(display) }) : undefined;
}

function referrer(row: Row): fhir4.Reference | undefined {
  const display = personNameText(row.referring_physician_name);
  const reference = referenceTo('Practitioner', row.referrer_id);
  return reference || display ? { ...reference, display } : undefined;
}

function instance(row: Row, teeth: Row[]): fhir4.ImagingStudySeriesInstance {
  return compact({
    extension: teeth.map((tooth) => ({ url: TOOTH_EXTENSION, valueCoding: coding(tooth.system, tooth.code, tooth.display) })),
    uid: row.sop_instance_uid as string,
    sopClass: { system: SOP_CLASS_SYSTEM, code: oid(row.sop_class_uid) },
    number: integer(row.instance_number),
  });
}

function series(row: Row, endpoint: fhir4.Reference[]): fhir4.ImagingStudySeries {
  return compact({
    uid: row.series_uid as string,
    number: integer(row.series_number),
    // Modality is required in R4 as in DICOM; "OT" (other) stands for a missing one.
    modality: { system: DCM_SYSTEM, code: text(row.modality) ?? 'OT' },
    description: text(row.series_description),
    numberOfInstances: integer(row.number_of_instances),
    endpoint,
    bodySite: coding(row.body_site_system, row.body_site_code, row.body_site_display),
    instance: ((row.instances ?? []) as Row[]).map((item) => instance(item, (item.teeth ?? []) as Row[])),
  });
}

export const imagingStudyMapping = defineMapping<fhir4.ImagingStudy>({
  type: 'ImagingStudy',
  table: 'fhir_imaging_studies',
  children: [],
  softDelete: false,
  provenance: false,
  sources: [{
    table: STUDY_SOURCE, children: [], softDelete: false, provenance: false,
    description: 'an imaging study stored through DICOMweb (STOW-RS) or DICOM C-STORE',
    accepts: () => false,
    readOnly: 'it changes as DICOM instances are stored, not through FHIR',
  }],

  toRows() {
    throw new Error('ImagingStudy is not written through FHIR'); // unreachable: sourceFor refuses first
  },

  toResource({ row, children }) {
    const endpoint = [referenceTo('Endpoint', row.endpoint_id)!];
    return compact({
      resourceType: 'ImagingStudy' as const,
      identifier: [
        { use: 'official' as const, system: DICOM_UID_SYSTEM, value: oid(row.study_uid) },
        text(row.accession_number)
          ? { use: 'usual' as const, type: { coding: [{ system: V2_0203, code: 'ACSN' }] }, value: text(row.accession_number) }
          : undefined,
      ].filter((identifier) => identifier !== undefined),
      status: row.fhir_status as fhir4.ImagingStudy['status'],
      modality: ((row.modalities_in_study ?? []) as string[]).map((code) => ({ system: DCM_SYSTEM, code })),
      subject: referenceTo('Patient', row.patient_id)!,
      encounter: referenceTo('Encounter', row.encounter_id),
      started: text(row.fhir_started),
      referrer: referrer(row),
      endpoint,
      numberOfSeries: integer(row.number_of_series),
      numberOfInstances: integer(row.number_of_instances),
      description: text(row.study_description),
      series: (children[SERIES] ?? []).map((item) => series(item, endpoint)),
    });
  },

  search: {
    patient: referenceParam({ expression: 'ImagingStudy.subject.where(resolve() is Patient)', description: 'Who the study is about' },
      'patient_id', ['Patient']),
    subject: referenceParam({ expression: 'ImagingStudy.subject', description: 'Who the study is about' }, 'patient_id', ['Patient']),
    encounter: referenceParam({ expression: 'ImagingStudy.encounter', description: 'The context of the study' }, 'encounter_id', ['Encounter']),
    referrer: referenceParam({ expression: 'ImagingStudy.referrer', description: 'The referring physician' }, 'referrer_id', ['Practitioner']),
    endpoint: referenceParam({ expression: 'ImagingStudy.endpoint | ImagingStudy.series.endpoint', description: 'The endpoint for the study or series' },
      'endpoint_id', ['Endpoint']),
    started: dateParam({ expression: 'ImagingStudy.started', description: 'When the study was started' },
      'timestamp', 'fhir_started_start', 'fhir_started_end'),
    status: tokenParam({ expression: 'ImagingStudy.status', description: 'The status of the study' },
      { code: 'fhir_status', system: { fixed: IMAGING_STUDY_STATUS_SYSTEM } }),
    identifier: tokenParam({
      expression: 'ImagingStudy.identifier',
      description: 'The Study Instance UID (urn:dicom:uid|urn:oid:…) or the accession number',
    }, {
      code: { ...IDENTIFIERS, column: 'value' }, system: { ...IDENTIFIERS, column: 'system' },
      identifierType: { column: { ...IDENTIFIERS, column: 'type' }, system: V2_0203 },
    }),
    modality: tokenParam({ expression: 'ImagingStudy.series.modality', description: 'The modality of a series (DICOM code)' },
      { code: { ...SERIES_ROWS, column: 'modality' }, system: { fixed: DCM_SYSTEM } }),
    series: tokenParam({ expression: 'ImagingStudy.series.uid', description: 'The Series Instance UID of a series' },
      { code: { ...SERIES_ROWS, column: 'series_uid' } }),
    instance: tokenParam({ expression: 'ImagingStudy.series.instance.uid', description: 'The SOP Instance UID of an instance' },
      { code: { ...INSTANCES, column: 'sop_instance_uid' } }),
    'dicom-class': tokenParam({ expression: 'ImagingStudy.series.instance.sopClass', description: 'The SOP class of an instance (urn:oid:…)' },
      { code: { ...INSTANCES, column: 'sop_class' }, system: { fixed: SOP_CLASS_SYSTEM } }),
    bodysite: tokenParam({
      expression: `ImagingStudy.series.bodySite | ImagingStudy.series.instance.extension('${TOOTH_EXTENSION}').value`,
      description: 'The body part examined by a series, or a tooth an instance depicts (SNOMED CT)',
    }, { code: { ...BODY_SITES, column: 'code' }, system: { ...BODY_SITES, column: 'system' } }),
  },
});
