// DICOM attributes as QIDO-RS names them (PS3.18 8.3.4.1: eight hex digits or a PS3.6 keyword, a
// sequence path joined by '.'), and the query level each belongs to (PS3.4 C.6.1.1 and C.6.2.1:
// patient and study attributes are returned with studies, series and equipment attributes with
// series, everything else with instances).
import { attributeOfKeyword, attributeOfTag } from '../dicom/data-dictionary.ts';
import type { DicomJsonDataSet } from '../dicom/index.ts';

export type QueryLevel = 'study' | 'series' | 'instance';

export const LEVELS: QueryLevel[] = ['study', 'series', 'instance'];
/** How deep a level is: an attribute of a level is returned at that level and the ones below it. */
export const DEPTH: Record<QueryLevel, number> = { study: 0, series: 1, instance: 2 };

export interface Attribute {
  /** Eight upper-case hex digits, as the DICOM JSON model keys it. */
  tag: string;
  keyword?: string;
  /** The dictionary VR (UN for private and unknown attributes). */
  vr: string;
}

/** The VRs a dictionary entry may name that are not one VR (PS3.5 A.1): the one DICOM JSON carries for them. */
const AMBIGUOUS_VR: Record<string, string> = { xs: 'US', ox: 'OW', lt: 'OW', up: 'UL' };

const TAG = /^[0-9A-Fa-f]{8}$/;

/** The attribute a tag or keyword names, or undefined. */
export function attributeNamed(name: string): Attribute | undefined {
  const known = TAG.test(name) ? attributeOfTag(name) : attributeOfKeyword(name);
  if (known) return { ...known, vr: AMBIGUOUS_VR[known.vr] ?? known.vr };
  return TAG.test(name) ? { tag: name.toUpperCase(), vr: 'UN' } : undefined;
}

/** The attribute of a keyword this module declares: it must exist. */
export function attribute(keyword: string): Attribute {
  const found = attributeNamed(keyword);
  if (!found?.keyword) throw new Error(`${keyword} is not a DICOM keyword`);
  return found;
}

const tagsOf = (keywords: string[]) => new Set(keywords.map((keyword) => attribute(keyword).tag));

// Patient IE (every attribute of group 0010 but Anatomical Orientation Type, which is General
// Series) and Study IE: General Study, Patient Study and Clinical Trial Study modules.
const STUDY_TAGS = tagsOf([
  'StudyInstanceUID', 'StudyDate', 'StudyTime', 'ReferringPhysicianName', 'ReferringPhysicianIdentificationSequence',
  'ConsultingPhysicianName', 'ConsultingPhysicianIdentificationSequence', 'StudyID', 'AccessionNumber',
  'IssuerOfAccessionNumberSequence', 'StudyDescription', 'PhysiciansOfRecord', 'PhysiciansOfRecordIdentificationSequence',
  'NameOfPhysiciansReadingStudy', 'PhysiciansReadingStudyIdentificationSequence', 'RequestingServiceCodeSequence',
  'ReferencedStudySequence', 'ProcedureCodeSequence', 'ReasonForPerformedProcedureCodeSequence',
  'AdmittingDiagnosesDescription', 'AdmittingDiagnosesCodeSequence', 'AdmissionID', 'IssuerOfAdmissionIDSequence',
  'ServiceEpisodeID', 'IssuerOfServiceEpisodeIDSequence', 'ServiceEpisodeDescription', 'ReasonForVisit',
  'ReasonForVisitCodeSequence', 'ClinicalTrialSponsorName', 'ClinicalTrialProtocolID', 'ClinicalTrialProtocolName',
  'ClinicalTrialSiteID', 'ClinicalTrialSiteName', 'ClinicalTrialSubjectID', 'ClinicalTrialSubjectReadingID',
  'ClinicalTrialTimePointID', 'ClinicalTrialTimePointDescription',
  // Computed by the server (PS3.4 Table C.3-1), never taken from an instance.
  'ModalitiesInStudy', 'NumberOfStudyRelatedSeries', 'NumberOfStudyRelatedInstances',
]);

// Series IE: General Series, Clinical Trial Series, General Equipment, Frame of Reference and the
// modality series modules' Presentation Intent Type.
const SERIES_TAGS = tagsOf([
  'Modality', 'SeriesInstanceUID', 'SeriesNumber', 'Laterality', 'SeriesDate', 'SeriesTime', 'PerformingPhysicianName',
  'PerformingPhysicianIdentificationSequence', 'ProtocolName', 'SeriesDescription', 'SeriesDescriptionCodeSequence',
  'OperatorsName', 'OperatorIdentificationSequence', 'ReferencedPerformedProcedureStepSequence', 'RelatedSeriesSequence',
  'AnatomicalOrientationType', 'BodyPartExamined', 'PatientPosition', 'SmallestPixelValueInSeries', 'LargestPixelValueInSeries',
  'RequestAttributesSequence', 'PerformedProcedureStepID', 'PerformedProcedureStepStartDate', 'PerformedProcedureStepStartTime',
  'PerformedProcedureStepEndDate', 'PerformedProcedureStepEndTime', 'PerformedProcedureStepDescription',
  'PerformedProtocolCodeSequence', 'CommentsOnThePerformedProcedureStep', 'ClinicalTrialCoordinatingCenterName',
  'ClinicalTrialSeriesID', 'ClinicalTrialSeriesDescription', 'Manufacturer', 'InstitutionName', 'InstitutionAddress',
  'StationName', 'InstitutionalDepartmentName', 'ManufacturerModelName', 'DeviceSerialNumber', 'SoftwareVersions',
  'SpatialResolution', 'DateOfLastCalibration', 'TimeOfLastCalibration', 'FrameOfReferenceUID', 'PositionReferenceIndicator',
  'PresentationIntentType',
  'NumberOfSeriesRelatedInstances',
]);

/** SOP Common attributes that say how every level's values are to be read, so each level carries them. */
const EVERY_LEVEL_TAGS = tagsOf(['SpecificCharacterSet', 'TimezoneOffsetFromUTC']);

/** Group 0010 is the Patient IE and Patient Study module (study level), but for this General Series attribute. */
export const PATIENT_GROUP = '0010';
export const ANATOMICAL_ORIENTATION_TYPE = attribute('AnatomicalOrientationType').tag;

/** The tags declared as study and series level; with group 0010 (see levelOfTag) they are not instance level. */
export const UPPER_LEVEL_TAGS: ReadonlySet<string> = new Set([...STUDY_TAGS, ...SERIES_TAGS]);

export function levelOfTag(tag: string): QueryLevel {
  if (STUDY_TAGS.has(tag) || (tag.startsWith(PATIENT_GROUP) && tag !== ANATOMICAL_ORIENTATION_TYPE)) return 'study';
  if (SERIES_TAGS.has(tag)) return 'series';
  return 'instance';
}

/** Attributes whose values are bulk data, or that hold bulk data, are left to WADO-RS. */
const holdsBulkData = (attribute: DicomJsonDataSet[string]) => JSON.stringify(attribute).includes('"BulkDataURI"');

/** The attributes of `level` in an instance's data set (with the every-level ones), for the level's row. */
export function levelAttributes(dataSet: DicomJsonDataSet, level: 'study' | 'series'): DicomJsonDataSet {
  const picked: DicomJsonDataSet = {};
  for (const [tag, value] of Object.entries(dataSet)) {
    if ((levelOfTag(tag) === level || EVERY_LEVEL_TAGS.has(tag)) && !holdsBulkData(value)) picked[tag] = value;
  }
  return picked;
}

/** The named attributes of an instance's data set that it has. */
export function pickAttributes(dataSet: DicomJsonDataSet, tags: Iterable<string>): DicomJsonDataSet {
  const picked: DicomJsonDataSet = {};
  for (const tag of tags) if (dataSet[tag]) picked[tag] = dataSet[tag];
  return picked;
}
