// Value Representations (PS3.5 section 6.2) grouped by how they are encoded and represented in JSON.

/** Explicit VR elements with a 2-byte reserved field and a 4-byte length (PS3.5 7.1.2); all others have a 2-byte length. */
export const LONG_LENGTH_VRS: ReadonlySet<string> = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);

export const KNOWN_VRS: ReadonlySet<string> = new Set([
  ...LONG_LENGTH_VRS,
  'AE', 'AS', 'AT', 'CS', 'DA', 'DS', 'DT', 'FL', 'FD', 'IS', 'LO', 'LT', 'PN', 'SH', 'SL', 'SS', 'ST', 'TM', 'UI', 'UL', 'US',
]);

/** Represented in JSON as InlineBinary or BulkDataURI, never as Value. */
export const BINARY_VRS: ReadonlySet<string> = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'UN']);

/** VRs whose value a BulkDataURI may stand for (PS3.18 F.2.2, 10.4.1.1.2): binary ones, long texts and numeric arrays. */
export const BULK_DATA_VRS: ReadonlySet<string> = new Set([
  ...BINARY_VRS, 'DS', 'FD', 'FL', 'IS', 'LT', 'SL', 'SS', 'ST', 'SV', 'UC', 'UL', 'US', 'UT', 'UV',
]);

/** Size of one word of a binary VR, for byte swapping a Big Endian value. */
export const BINARY_WORD_SIZE: Readonly<Record<string, 1 | 2 | 4 | 8>> = { OB: 1, UN: 1, OW: 2, OF: 4, OL: 4, OD: 8, OV: 8 };
