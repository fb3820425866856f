// Parses one DICOM PS3.10 instance once, reading its header and never its pixel data, into all
// that the server indexes and serves (see README.md beside this file).
import { BufferSource, FileSource, type RandomAccessSource } from './byte-source.ts';
import { readDataSet, type BulkDataLocation, type ByteRange, type DataSetContent } from './data-set-reader.ts';
import { tagHex, type DicomJsonDataSet } from './dicom-json.ts';
import { locateFrames, type Frame } from './frames.ts';
import { indexedAttributes, primaryAnatomicStructures, teethOf, type CodedConcept, type IndexedAttributes } from './indexed-attributes.ts';
import { InstanceParseError } from './instance-errors.ts';
import { InflatingReader, SourceReader } from './sequential-reader.ts';
import { dataSetEncodingOf } from './transfer-syntaxes.ts';

export interface ParseOptions {
  /** Binary values longer than this many bytes become BulkDataURIs; shorter ones are InlineBinary. Pixel Data always is bulk. */
  bulkDataThreshold?: number;
  /** No value longer than this is held in memory: it is bulk data where its VR allows, else the instance is refused (A700). */
  maxValueLength?: number;
  /** The values held in memory (all but bulk data) may total this many bytes, else the instance is refused (A700). */
  maxHeaderLength?: number;
}

export const DEFAULT_BULK_DATA_THRESHOLD = 1024;
export const DEFAULT_MAX_VALUE_LENGTH = 16 * 1024 * 1024;
export const DEFAULT_MAX_HEADER_LENGTH = 64 * 1024 * 1024;

export interface InstanceEncoding {
  transferSyntaxUID: string;
  explicitVR: boolean;
  /** Explicit VR Big Endian (retired): bulk data and native frames hold big-endian words, to swap before serving them as little endian. */
  bigEndian: boolean;
  /** The data set is deflated: bulk data offsets count bytes of the inflated data set, and frames are not byte ranges of the file. */
  deflated: boolean;
  /** Offset in the file of the first byte after the File Meta Information. */
  dataSetOffset: number;
}

export interface PixelDataLayout {
  /** 7FE00010 (Pixel Data), 7FE00008 (Float Pixel Data) or 7FE00009 (Double Float Pixel Data). */
  tag: string;
  vr: string;
  encapsulated: boolean;
  /** The Value Field (for encapsulated pixel data: its items, through the Sequence Delimitation Item). */
  value: ByteRange;
  numberOfFrames: number;
  /** Byte ranges of each frame in the stored file; absent when they cannot be located (see framesUnavailable). */
  frames?: Frame[];
  framesUnavailable?: string;
}

export interface ParsedInstance {
  attributes: IndexedAttributes;
  /** The Primary Anatomic Structure Sequence items that are teeth (for imaging_object_teeth). */
  teeth: CodedConcept[];
  /** Every coded item of the Primary Anatomic Structure Sequence (0008,2228), teeth or not. */
  primaryAnatomicStructures: CodedConcept[];
  /** The data set (no File Meta Information, PS3.18 F.2) in the DICOM JSON Model; bulk values are BulkDataURI placeholders. */
  dicomJson: DicomJsonDataSet;
  /** The File Meta Information group (0002,xxxx), in the same model. */
  fileMetaInformation: DicomJsonDataSet;
  encoding: InstanceEncoding;
  pixelData: PixelDataLayout | undefined;
  /** Where the value of each BulkDataURI placeholder is (offsets as InstanceEncoding.deflated says). */
  bulkData: BulkDataLocation[];
  /** Oddities that did not prevent indexing, e.g. a File Meta Information that disagrees with the data set. */
  warnings: string[];
}

const PREAMBLE_LENGTH = 128;
const DICM = Buffer.from('DICM', 'latin1');
const FILE_META_GROUP = 0x0002;
const EXPLICIT_VR_LITTLE_ENDIAN = { explicitVR: true, littleEndian: true };

export async function parseInstanceFile(filePath: string, options: ParseOptions = {}): Promise<ParsedInstance> {
  const source = await FileSource.open(filePath);
  try {
    return await parseInstance(source, options);
  } finally {
    await source.close();
  }
}

export function parseInstanceBuffer(buffer: Buffer, options: ParseOptions = {}): Promise<ParsedInstance> {
  return parseInstance(new BufferSource(buffer), options);
}

export async function parseInstance(source: RandomAccessSource, options: ParseOptions = {}): Promise<ParsedInstance> {
  const limits = {
    bulkDataThreshold: options.bulkDataThreshold ?? DEFAULT_BULK_DATA_THRESHOLD,
    maxValueLength: options.maxValueLength ?? DEFAULT_MAX_VALUE_LENGTH,
    maxHeaderLength: options.maxHeaderLength ?? DEFAULT_MAX_HEADER_LENGTH,
  };
  await expectPart10Prefix(source);
  const fileReader = new SourceReader(source, PREAMBLE_LENGTH + DICM.length);
  const fileMeta = await readDataSet(fileReader, EXPLICIT_VR_LITTLE_ENDIAN, limits, { onlyGroup: FILE_META_GROUP });
  const transferSyntaxUID = textValue(fileMeta.dataSet, '00020010');
  if (!transferSyntaxUID) throw new InstanceParseError('malformed', 'the File Meta Information has no Transfer Syntax UID', '00020010');
  const syntax = dataSetEncodingOf(transferSyntaxUID);
  const dataSetOffset = fileReader.position;

  const reader = syntax.deflated ? new InflatingReader(source, dataSetOffset, await source.readAt(dataSetOffset, 2)) : fileReader;
  let content: DataSetContent;
  try {
    content = await readDataSet(reader, syntax, limits);
  } finally {
    reader.close();
  }

  const attributes = indexedAttributes(content.dataSet, transferSyntaxUID);
  const structures = primaryAnatomicStructures(content.dataSet);
  const encoding: InstanceEncoding = {
    transferSyntaxUID,
    explicitVR: syntax.explicitVR,
    bigEndian: !syntax.littleEndian,
    deflated: syntax.deflated,
    dataSetOffset,
  };
  const warnings = [...fileMeta.warnings, ...content.warnings, ...fileMetaDisagreements(fileMeta.dataSet, attributes)];
  const pixelData = pixelDataLayout(content, attributes, encoding, warnings);
  return {
    attributes,
    teeth: teethOf(structures),
    primaryAnatomicStructures: structures,
    dicomJson: content.dataSet,
    fileMetaInformation: fileMeta.dataSet,
    encoding,
    pixelData,
    bulkData: content.bulkData,
    warnings,
  };
}

/**
 * PS3.10 7.1: a 128-byte preamble, then "DICM". STOW-RS takes application/dicom, which is the
 * PS3.10 format (PS3.18 8.7.3.1), so a bare data set without the prefix is refused rather than guessed at.
 */
async function expectPart10Prefix(source: RandomAccessSource): Promise<void> {
  const prefix = await source.readAt(PREAMBLE_LENGTH, DICM.length);
  if (!prefix.equals(DICM)) {
    throw new InstanceParseError('not-dicom', 'not a DICOM PS3.10 file: no "DICM" after the 128-byte preamble');
  }
}

function pixelDataLayout(
  content: DataSetContent,
  attributes: IndexedAttributes,
  encoding: InstanceEncoding,
  warnings: string[],
): PixelDataLayout | undefined {
  const element = content.pixelData;
  if (!element) return undefined;
  const numberOfFrames = attributes.NumberOfFrames ?? 1;
  const layout: PixelDataLayout = { tag: tagHex(element.tag), vr: element.vr, encapsulated: element.encapsulated, value: element.value, numberOfFrames };
  if (encoding.deflated) {
    return { ...layout, framesUnavailable: 'the data set is deflated, so frames are not byte ranges of the stored file: inflate it to read them' };
  }
  const location = locateFrames(
    element,
    {
      rows: attributes.Rows,
      columns: attributes.Columns,
      samplesPerPixel: attributes.SamplesPerPixel,
      bitsAllocated: attributes.BitsAllocated,
      photometricInterpretation: attributes.PhotometricInterpretation,
      numberOfFrames,
      transferSyntaxUID: encoding.transferSyntaxUID,
    },
    content.extendedOffsetTable,
  );
  if ('unavailable' in location) {
    warnings.push(`frames cannot be located: ${location.unavailable}`);
    return { ...layout, framesUnavailable: location.unavailable };
  }
  if (location.warning) warnings.push(location.warning);
  return { ...layout, frames: location.frames };
}

/** PS3.10 7.1 wants the File Meta Information to repeat the SOP Class and Instance UIDs; the data set's win. */
function fileMetaDisagreements(fileMeta: DicomJsonDataSet, attributes: IndexedAttributes): string[] {
  const pairs = [
    ['00020002', 'MediaStorageSOPClassUID', attributes.SOPClassUID, 'SOPClassUID'],
    ['00020003', 'MediaStorageSOPInstanceUID', attributes.SOPInstanceUID, 'SOPInstanceUID'],
  ] as const;
  return pairs.flatMap(([tag, metaKeyword, dataSetValue, keyword]) => {
    const metaValue = textValue(fileMeta, tag);
    return metaValue !== undefined && metaValue !== dataSetValue ? [`${metaKeyword} ${metaValue} differs from ${keyword} ${dataSetValue}`] : [];
  });
}

function textValue(dataSet: DicomJsonDataSet, tag: string): string | undefined {
  const value = dataSet[tag]?.Value?.[0];
  return typeof value === 'string' ? value : undefined;
}
