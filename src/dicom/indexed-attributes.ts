// The attributes the imaging tables index (QIDO-RS matching, FHIR ImagingStudy), read from the
// instance's top-level DICOM JSON, and the teeth named in its Primary Anatomic Structure Sequence.
import type { DicomJsonAttribute, DicomJsonDataSet, PersonNameValue } from './dicom-json.ts';
import { InstanceParseError } from './instance-errors.ts';

/** Type 1 in the SOP Common, General Study and General Series modules: an instance without them cannot be filed. */
const REQUIRED_UIDS = {
  SOPClassUID: '00080016',
  SOPInstanceUID: '00080018',
  StudyInstanceUID: '0020000D',
  SeriesInstanceUID: '0020000E',
} as const;

/** Strings as received (decoded per Specific Character Set); PN as its component groups joined by '='. */
const TEXT_ATTRIBUTES = {
  Modality: '00080060',
  StudyDate: '00080020',
  StudyTime: '00080030',
  SeriesDate: '00080021',
  SeriesTime: '00080031',
  AcquisitionDate: '00080022',
  AcquisitionTime: '00080032',
  AcquisitionDateTime: '0008002A',
  AccessionNumber: '00080050',
  ReferringPhysicianName: '00080090',
  StudyDescription: '00081030',
  SeriesDescription: '0008103E',
  StudyID: '00200010',
  PatientName: '00100010',
  PatientID: '00100020',
  IssuerOfPatientID: '00100021',
  PatientBirthDate: '00100030',
  PatientSex: '00100040',
  BodyPartExamined: '00180015',
  PhotometricInterpretation: '00280004',
} as const;

const NUMBER_ATTRIBUTES = {
  SeriesNumber: '00200011',
  InstanceNumber: '00200013',
  SamplesPerPixel: '00280002',
  PlanarConfiguration: '00280006',
  NumberOfFrames: '00280008',
  Rows: '00280010',
  Columns: '00280011',
  BitsAllocated: '00280100',
  BitsStored: '00280101',
  PixelRepresentation: '00280103',
} as const;

const SPECIFIC_CHARACTER_SET = '00080005';
const PRIMARY_ANATOMIC_STRUCTURE_SEQUENCE = '00082228';

export type IndexedAttributes = { -readonly [K in keyof typeof REQUIRED_UIDS]: string } & {
  -readonly [K in keyof typeof TEXT_ATTRIBUTES]?: string;
} & {
  -readonly [K in keyof typeof NUMBER_ATTRIBUTES]?: number;
} & {
  /** From the File Meta Information (0002,0010). */
  TransferSyntaxUID: string;
  /** Every value of (0008,0005); empty when absent (the default repertoire). */
  SpecificCharacterSet: string[];
};

/** A Code Sequence item (PS3.3 Table 8.8-1). */
export interface CodedConcept {
  CodeValue: string;
  CodingSchemeDesignator: string;
  CodeMeaning?: string;
}

export function indexedAttributes(dataSet: DicomJsonDataSet, transferSyntaxUID: string): IndexedAttributes {
  const required = Object.fromEntries(
    Object.entries(REQUIRED_UIDS).map(([keyword, tag]) => {
      const uid = firstText(dataSet[tag]);
      if (!uid) throw new InstanceParseError('missing-attribute', `the instance has no ${keyword} (${tag})`, tag);
      return [keyword, uid];
    }),
  ) as { [K in keyof typeof REQUIRED_UIDS]: string };
  const attributes: IndexedAttributes = {
    ...required,
    TransferSyntaxUID: transferSyntaxUID,
    SpecificCharacterSet: (dataSet[SPECIFIC_CHARACTER_SET]?.Value ?? []).map((term) => (typeof term === 'string' ? term : '')),
  };
  for (const [keyword, tag] of Object.entries(TEXT_ATTRIBUTES) as [keyof typeof TEXT_ATTRIBUTES, string][]) {
    const text = firstText(dataSet[tag]);
    if (text !== undefined) attributes[keyword] = text;
  }
  for (const [keyword, tag] of Object.entries(NUMBER_ATTRIBUTES) as [keyof typeof NUMBER_ATTRIBUTES, string][]) {
    const value = dataSet[tag]?.Value?.[0];
    if (isInteger32(value)) attributes[keyword] = value;
  }
  return attributes;
}

/** IS and US values are integers of at most 32 bits (PS3.5 6.2); another value is not indexed. */
function isInteger32(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= -(2 ** 31) && value < 2 ** 31;
}

/** Every item of the Primary Anatomic Structure Sequence (0008,2228) that carries a code. */
export function primaryAnatomicStructures(dataSet: DicomJsonDataSet): CodedConcept[] {
  const items = (dataSet[PRIMARY_ANATOMIC_STRUCTURE_SEQUENCE]?.Value ?? []) as DicomJsonDataSet[];
  return items.flatMap((item) => {
    const CodeValue = firstText(item['00080100']) ?? firstText(item['00080119']) ?? firstText(item['00080120']); // Code, Long Code, URN Code Value
    const CodingSchemeDesignator = firstText(item['00080102']);
    if (!CodeValue || !CodingSchemeDesignator) return [];
    const CodeMeaning = firstText(item['00080104']);
    return [CodeMeaning === undefined ? { CodeValue, CodingSchemeDesignator } : { CodeValue, CodingSchemeDesignator, CodeMeaning }];
  });
}

/**
 * The structures that are teeth: SNOMED CT "Entire ... tooth" concepts (the CID 4019-style codes
 * dental devices send) are recognised by their meaning; ISO 3950 (FDI) designations always are.
 * Regions such as "Upper dental arch" are not teeth.
 */
export function teethOf(structures: CodedConcept[]): CodedConcept[] {
  return structures.filter(
    (code) => TOOTH_NUMBERING_SCHEMES.has(code.CodingSchemeDesignator.toUpperCase()) || /\btooth\b/i.test(code.CodeMeaning ?? ''),
  );
}

const TOOTH_NUMBERING_SCHEMES = new Set(['ISO3950', 'FDI']);

function firstText(attribute: DicomJsonAttribute | undefined): string | undefined {
  const value = attribute?.Value?.[0];
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  if (value && typeof value === 'object' && attribute?.vr === 'PN') return personNameText(value as PersonNameValue);
  return undefined;
}

function personNameText(name: PersonNameValue): string {
  return [name.Alphabetic ?? '', name.Ideographic ?? '', name.Phonetic ?? ''].join('=').replace(/=+$/, '');
}
