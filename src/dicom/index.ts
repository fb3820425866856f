// DICOM instance parsing for DICOMweb and DIMSE: one pass over a PS3.10 file yields the indexed
// attributes, the DICOM JSON metadata (PS3.18 Annex F) and where the frames and bulk data are.
export {
  parseInstanceFile, parseInstanceBuffer, parseInstance,
  DEFAULT_BULK_DATA_THRESHOLD, DEFAULT_MAX_VALUE_LENGTH, DEFAULT_MAX_HEADER_LENGTH,
  type ParsedInstance, type ParseOptions, type InstanceEncoding, type PixelDataLayout,
} from './parse-instance.ts';
export { InstanceParseError, FailureReason, failureReasonOf, type FailureReasonCode, type InstanceProblem } from './instance-errors.ts';
export { completeBulkDataURIs } from './bulk-data-uri.ts';
export { nativeDicomModel, DICOM_XML_MEDIA_TYPE } from './native-xml.ts';
export { FileSource, BufferSource, type RandomAccessSource } from './byte-source.ts';
export type { Frame } from './frames.ts';
export type { BulkDataLocation, ByteRange } from './data-set-reader.ts';
export type { IndexedAttributes, CodedConcept } from './indexed-attributes.ts';
export type { DicomJsonDataSet, DicomJsonAttribute, DicomJsonValue, PersonNameValue } from './dicom-json.ts';
