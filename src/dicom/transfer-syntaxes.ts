// How a Transfer Syntax encodes the data set after the File Meta Information (PS3.5 section 10).
import { InstanceParseError } from './instance-errors.ts';

export interface DataSetEncoding {
  explicitVR: boolean;
  littleEndian: boolean;
  /** The data set is a raw deflate stream (RFC 1951) after the File Meta Information. */
  deflated: boolean;
}

const IMPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2';
const EXPLICIT_VR_BIG_ENDIAN = '1.2.840.10008.1.2.2';
const DEFLATED_TRANSFER_SYNTAXES = new Set([
  '1.2.840.10008.1.2.1.99', // Deflated Explicit VR Little Endian
  '1.2.840.10008.1.2.4.95', // JPIP Referenced Deflate
]);
const STANDARD_TRANSFER_SYNTAX_PREFIX = '1.2.840.10008.1.2.';

/**
 * Every standard Transfer Syntax except Implicit VR Little Endian and the retired Big Endian one
 * encodes its data set as Explicit VR Little Endian (PS3.5 A.4 requires it of the encapsulated
 * ones), so a standard UID this table does not name yet (a future compression) is still readable.
 * Private Transfer Syntaxes can encode anything and are refused.
 */
export function dataSetEncodingOf(transferSyntaxUID: string): DataSetEncoding {
  if (transferSyntaxUID === IMPLICIT_VR_LITTLE_ENDIAN) return { explicitVR: false, littleEndian: true, deflated: false };
  if (transferSyntaxUID === EXPLICIT_VR_BIG_ENDIAN) return { explicitVR: true, littleEndian: false, deflated: false };
  if (DEFLATED_TRANSFER_SYNTAXES.has(transferSyntaxUID)) return { explicitVR: true, littleEndian: true, deflated: true };
  if (transferSyntaxUID.startsWith(STANDARD_TRANSFER_SYNTAX_PREFIX)) return { explicitVR: true, littleEndian: true, deflated: false };
  throw new InstanceParseError(
    'unsupported-transfer-syntax',
    `Transfer Syntax ${transferSyntaxUID} is not a DICOM standard one`,
    '00020010',
  );
}

const JPEG_FAMILY = /^1\.2\.840\.10008\.1\.2\.4\.(5\d|6\d|70|8[01])$/; // JPEG, JPEG lossless, JPEG-LS
const JPEG_2000_FAMILY = /^1\.2\.840\.10008\.1\.2\.4\.(9[0-3]|20[1-3])$/; // JPEG 2000, HTJ2K

/** The encoded frames of these Transfer Syntaxes start with a marker, so fragments can be grouped into frames. */
export function framesStartWithMarker(transferSyntaxUID: string): boolean {
  return JPEG_FAMILY.test(transferSyntaxUID) || JPEG_2000_FAMILY.test(transferSyntaxUID);
}
