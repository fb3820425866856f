// The DICOM JSON Model (PS3.18 Annex F): one object per data set, keyed by 8-hex-digit tags.

/** PS3.18 F.2.2: a PN value is its component groups, each a '^'-separated string; empty groups are absent. */
export interface PersonNameValue {
  Alphabetic?: string;
  Ideographic?: string;
  Phonetic?: string;
}

/** null stands for an empty value among several (PS3.18 F.2.5). */
export type DicomJsonValue = string | number | PersonNameValue | DicomJsonDataSet | null;

export interface DicomJsonAttribute {
  vr: string;
  Value?: DicomJsonValue[];
  InlineBinary?: string;
  BulkDataURI?: string;
}

export type DicomJsonDataSet = { [tag: string]: DicomJsonAttribute };

/** A tag as the JSON model keys it: group and element, 8 upper-case hex digits. */
export const tagHex = (tag: number) => tag.toString(16).toUpperCase().padStart(8, '0');
