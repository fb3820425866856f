// Rewrites a stored PS3.10 file in another Transfer Syntax, as a stream: a new File Meta
// Information (PS3.10 7.1) naming the new Transfer Syntax, the data set re-encoded element by
// element (transcode-elements.ts), and the Pixel Data either byte swapped as it streams (between
// native syntaxes) or decoded and encoded one frame at a time (transcode-codecs.ts). Memory holds
// the header and one frame, never the whole object.
import { Readable, pipeline } from 'node:stream';
import zlib from 'node:zlib';
import type { RandomAccessSource } from './byte-source.ts';
import type { Frame } from './frames.ts';
import { InstanceParseError } from './instance-errors.ts';
import { InflatingReader, SourceReader, type SequentialReader } from './sequential-reader.ts';
import { canDecode, canEncode, decodeFrame, encodeFrame, nativeFrameLength, type PixelDescription } from './transcode-codecs.ts';
import { ElementReader, ElementWriter, PIXEL_DATA, UNDEFINED_LENGTH, ITEM, SEQUENCE_DELIMITATION, swapWords, wordSizeOf, type RawElement } from './transcode-elements.ts';
import { isNative } from './transcode-syntaxes.ts';
import { dataSetEncodingOf, type DataSetEncoding } from './transfer-syntaxes.ts';

/** Implementation Class UID (0002,0012) of the files Cusp rewrites: PS3.10 7.1 names the writer there. */
export const IMPLEMENTATION_CLASS_UID = '2.25.274217451224795408840610298467842481329';
export const IMPLEMENTATION_VERSION_NAME = 'CUSP';

const PREAMBLE_LENGTH = 128;
const DICM = Buffer.from('DICM', 'latin1');
const EXPLICIT_LITTLE = { explicitVR: true, littleEndian: true };
const TRANSFER_SYNTAX_UID = 0x00020010;
const IMPLEMENTATION_CLASS = 0x00020012;
const IMPLEMENTATION_VERSION = 0x00020013;
const PHOTOMETRIC_INTERPRETATION = 0x00280004;
const PLANAR_CONFIGURATION = 0x00280006;
const SUBSAMPLED = new Set(['YBR_FULL_422', 'YBR_PARTIAL_422', 'YBR_PARTIAL_420']);
const JPEG_LOSSLESS_SV1 = '1.2.840.10008.1.2.4.70';
/** Native Pixel Data streams through in chunks of this size (a multiple of every word size). */
const PIXEL_CHUNK = 1024 * 1024;

export class TranscodeError extends Error {}

/** What a stored instance holds that decides whether it can be transcoded. */
export interface TranscodeSubject {
  transferSyntaxUID: string;
  /** Undefined when the instance has no Pixel Data. */
  pixelData?: {
    encapsulated: boolean;
    /** Undefined when the Image Pixel Module is incomplete. */
    description: PixelDescription | undefined;
    /** Whether each encapsulated frame's fragments are known. */
    framesLocated: boolean;
  };
}

/** Why `subject` cannot be rewritten in `target`, or undefined when it can. */
export function cannotTranscode(subject: TranscodeSubject, target: string): string | undefined {
  const from = subject.transferSyntaxUID;
  if (!isNative(target) && !canEncode(target, { bitsAllocated: 8, samplesPerPixel: 1 })) return `Transfer Syntax ${target} is not one this server writes`;
  const pixel = subject.pixelData;
  if (!pixel || (isNative(from) && isNative(target))) return undefined;
  if (!pixel.description) return 'the Image Pixel Module is incomplete';
  if (pixel.encapsulated) {
    if (!canDecode(from)) return `pixel data in Transfer Syntax ${from} cannot be decoded`;
    if (!pixel.framesLocated && pixel.description.numberOfFrames !== 1) return 'the fragments of each frame are not known';
  } else if (!isNative(from)) {
    return `Transfer Syntax ${from} is not understood`;
  }
  if (!isNative(target) && !canEncode(target, pixel.description)) {
    return `${pixel.description.samplesPerPixel} sample(s) of ${pixel.description.bitsAllocated} bits cannot be encoded in Transfer Syntax ${target}`;
  }
  // Only the JPEG encoder converts chroma-subsampled native pixels (to RGB, saying so); the others would mislabel them.
  if (!isNative(target) && !pixel.encapsulated && SUBSAMPLED.has(pixel.description.photometricInterpretation) && target !== JPEG_LOSSLESS_SV1) {
    return `${pixel.description.photometricInterpretation} pixel data cannot be encoded in Transfer Syntax ${target}`;
  }
  return undefined;
}

export interface FileMeta {
  elements: RawElement[];
  transferSyntaxUID: string;
  /** Offset of the first byte of the data set. */
  dataSetOffset: number;
}

/** The File Meta Information (group 0002, always Explicit VR Little Endian) of a PS3.10 file. */
export async function readFileMeta(source: RandomAccessSource): Promise<FileMeta> {
  if (!(await source.readAt(PREAMBLE_LENGTH, DICM.length)).equals(DICM)) throw new InstanceParseError('not-dicom', 'not a DICOM PS3.10 file');
  const reader = new SourceReader(source, PREAMBLE_LENGTH + DICM.length);
  const elements = new ElementReader(reader, EXPLICIT_LITTLE);
  const meta: RawElement[] = [];
  while (!(await reader.atEnd()) && (await reader.peek(2)).readUInt16LE(0) === 0x0002) meta.push(await elements.element(await elements.header()));
  const transferSyntax = meta.find((element) => element.tag === TRANSFER_SYNTAX_UID);
  if (!transferSyntax || !('value' in transferSyntax)) throw new InstanceParseError('malformed', 'the File Meta Information has no Transfer Syntax UID', '00020010');
  return { elements: meta, transferSyntaxUID: uidText(transferSyntax.value), dataSetOffset: reader.position };
}

/** A reader of the data set of a PS3.10 file, inflated when its Transfer Syntax is deflated. */
export async function openDataSet(source: RandomAccessSource, meta: FileMeta): Promise<SequentialReader> {
  const encoding = dataSetEncodingOf(meta.transferSyntaxUID);
  return encoding.deflated
    ? new InflatingReader(source, meta.dataSetOffset, await source.readAt(meta.dataSetOffset, 2))
    : new SourceReader(source, meta.dataSetOffset);
}

export interface TranscodeOptions {
  /** Byte ranges of each encapsulated frame in the file, as ingest located them. */
  frames?: Frame[] | null;
}

/** The file in `source` rewritten in Transfer Syntax `target`, as chunks of bytes. */
export async function* transcodeInstance(source: RandomAccessSource, target: string, options: TranscodeOptions = {}): AsyncGenerator<Buffer> {
  const meta = await readFileMeta(source);
  const from = dataSetEncodingOf(meta.transferSyntaxUID);
  const to = dataSetEncodingOf(target);
  const reader = await openDataSet(source, meta);
  try {
    const dataSet = dataSetChunks(new ElementReader(reader, from), meta.transferSyntaxUID, from, target, to, options);
    yield* prefixed(fileMetaInformation(meta.elements, target), to.deflated ? deflated(dataSet) : dataSet);
  } finally {
    reader.close();
  }
}

/** `chunks` with `prefix` sent along with the first of them: a consumer gets nothing until the work that may fail has begun. */
async function* prefixed(prefix: Buffer, chunks: AsyncGenerator<Buffer>): AsyncGenerator<Buffer> {
  const first = await chunks.next();
  yield first.done ? prefix : Buffer.concat([prefix, first.value]);
  yield* chunks;
}

async function* deflated(chunks: AsyncGenerator<Buffer>): AsyncGenerator<Buffer> {
  const deflater = zlib.createDeflateRaw();
  pipeline(Readable.from(chunks), deflater, () => {});
  for await (const chunk of deflater) yield chunk as Buffer;
}

function fileMetaInformation(elements: RawElement[], target: string): Buffer {
  const replaced = new Map<number, Buffer>([
    [TRANSFER_SYNTAX_UID, uidValue(target)],
    [IMPLEMENTATION_CLASS, uidValue(IMPLEMENTATION_CLASS_UID)],
    [IMPLEMENTATION_VERSION, textValue(IMPLEMENTATION_VERSION_NAME)],
  ]);
  const kept = elements.filter((element) => element.tag !== 0x00020000 && !replaced.has(element.tag));
  const all: RawElement[] = [...kept, ...[...replaced].map(([tag, value]) => ({ tag, vr: tag === IMPLEMENTATION_VERSION ? 'SH' : 'UI', value }))]
    .sort((a, b) => a.tag - b.tag);
  const writer = new ElementWriter(EXPLICIT_LITTLE);
  const body: Buffer[] = [];
  writer.elements(all, body);
  const groupLength = Buffer.alloc(4);
  groupLength.writeUInt32LE(body.reduce((sum, chunk) => sum + chunk.length, 0));
  return Buffer.concat([Buffer.alloc(PREAMBLE_LENGTH), DICM, writer.header(0x00020000, 'UL', 4), groupLength, ...body]);
}

async function* dataSetChunks(
  reader: ElementReader, fromUID: string, from: DataSetEncoding, targetUID: string, to: DataSetEncoding, options: TranscodeOptions,
): AsyncGenerator<Buffer> {
  const writer = new ElementWriter(to);
  const header: RawElement[] = [];
  let pixelHeader;
  while (!(await reader.atEnd())) {
    const elementHeader = await reader.header();
    if (elementHeader.tag === PIXEL_DATA) {
      pixelHeader = elementHeader;
      break;
    }
    header.push(await reader.element(elementHeader));
  }
  if (!pixelHeader) {
    yield encode(writer, header);
    return;
  }
  const encapsulatedSource = pixelHeader.length === UNDEFINED_LENGTH;
  if (!encapsulatedSource && isNative(targetUID)) {
    yield encode(writer, header);
    yield* nativePixelData(reader, writer, pixelHeader.vr, pixelHeader.length, from, numberAt(header, 0x00280100) ?? 16);
  } else {
    const description = pixelDescription(header);
    const frames = encapsulatedSource
      ? encapsulatedFrames(reader, options.frames, description.numberOfFrames)
      : nativeFrames(reader, pixelHeader.vr, pixelHeader.length, from, description);
    yield* codedPixelData(frames, header, writer, fromUID, targetUID, description);
  }
  const trailing = await reader.dataSet(from, undefined, false);
  if (trailing.length > 0) yield encode(writer, trailing);
}

function encode(writer: ElementWriter, elements: RawElement[]): Buffer {
  const out: Buffer[] = [];
  writer.elements(elements, out);
  return Buffer.concat(out);
}

/** Native Pixel Data of a native source into a native target: byte swapped by VR as it streams. */
async function* nativePixelData(
  reader: ElementReader, writer: ElementWriter, sourceVR: string, length: number, from: DataSetEncoding, bitsAllocated: number,
): AsyncGenerator<Buffer> {
  // PS3.5 8.1.2: OB for samples of 8 bits or fewer, OW otherwise (the dictionary's "OB or OW" decides nothing).
  const vr = sourceVR === 'OB' || sourceVR === 'OW' || sourceVR === 'UN' ? (bitsAllocated <= 8 ? 'OB' : 'OW') : sourceVR;
  yield writer.header(PIXEL_DATA, vr, length);
  for (let done = 0; done < length; done += PIXEL_CHUNK) {
    const chunk = await reader.read(Math.min(PIXEL_CHUNK, length - done));
    if (!from.littleEndian) swapWords(chunk, wordSizeOf(sourceVR));
    yield writer.value(vr, chunk);
  }
}

async function* nativeFrames(
  reader: ElementReader, vr: string, length: number, from: DataSetEncoding, description: PixelDescription,
): AsyncGenerator<Buffer> {
  const frameLength = nativeFrameLength(description);
  if (frameLength * description.numberOfFrames > length) {
    throw new TranscodeError(`Pixel Data holds ${length} bytes, fewer than ${description.numberOfFrames} frames of ${frameLength} bytes`);
  }
  for (let frame = 0; frame < description.numberOfFrames; frame++) {
    const bytes = await reader.read(frameLength);
    yield from.littleEndian ? bytes : swapWords(bytes, wordSizeOf(vr));
  }
  await reader.read(length - frameLength * description.numberOfFrames);
}

/**
 * The encoded frames of encapsulated Pixel Data, each the concatenation of its fragments (PS3.5
 * A.4). Which fragments make which frame comes from the ranges ingest recorded, by their offsets.
 */
async function* encapsulatedFrames(reader: ElementReader, frames: Frame[] | null | undefined, numberOfFrames: number): AsyncGenerator<Buffer> {
  const rangeAt = new Map<number, { frame: number; length: number }>();
  for (const [frame, { ranges }] of (frames ?? []).entries()) for (const range of ranges) rangeAt.set(range.offset, { frame, length: range.length });
  if (!frames && numberOfFrames !== 1) throw new TranscodeError('the fragments of each frame are not known');
  let pending: Buffer[] = [];
  let current = 0;
  let first = true;
  for (;;) {
    const item = await reader.read(8);
    const tag = ((item.readUInt16LE(0) << 16) | item.readUInt16LE(2)) >>> 0;
    if (tag === SEQUENCE_DELIMITATION) break;
    if (tag !== ITEM) throw new TranscodeError('encapsulated Pixel Data holds something other than fragment Items');
    const offset = reader.position;
    const bytes = await reader.read(item.readUInt32LE(4));
    if (first) {
      first = false; // the Basic Offset Table
      continue;
    }
    if (!frames) {
      pending.push(bytes);
      continue;
    }
    const range = rangeAt.get(offset);
    if (!range) continue;
    if (range.frame !== current && pending.length > 0) {
      yield Buffer.concat(pending);
      pending = [];
    }
    current = range.frame;
    pending.push(bytes.subarray(0, range.length));
  }
  if (pending.length > 0) yield Buffer.concat(pending);
}

/** Pixel Data that is decoded and/or encoded frame by frame; the first frame decides the Image Pixel Module's new values. */
async function* codedPixelData(
  frames: AsyncGenerator<Buffer>, header: RawElement[], writer: ElementWriter, fromUID: string, targetUID: string, description: PixelDescription,
): AsyncGenerator<Buffer> {
  const convert = async (bytes: Buffer) => {
    const native = isNative(fromUID) ? { bytes, description } : await decodeFrame(bytes, fromUID, description);
    return isNative(targetUID) ? native : encodeFrame(native.bytes, targetUID, native.description);
  };
  const firstFrame = await frames.next();
  if (firstFrame.done) throw new TranscodeError('the Pixel Data holds no frame');
  const first = await convert(firstFrame.value);
  yield encode(writer, withPixelModule(header, description, first.description));

  if (isNative(targetUID)) {
    const frameLength = first.bytes.length;
    const length = frameLength * description.numberOfFrames;
    const vr = first.description.bitsAllocated <= 8 ? 'OB' : 'OW';
    yield writer.header(PIXEL_DATA, vr, length + (length % 2));
    yield writer.value(vr, first.bytes);
    let written = 1;
    for await (const frame of frames) {
      const converted = await convert(frame);
      if (converted.bytes.length !== frameLength) throw new TranscodeError(`frame ${written + 1} decodes to ${converted.bytes.length} bytes, not ${frameLength}`);
      yield writer.value(vr, converted.bytes);
      written++;
    }
    if (written !== description.numberOfFrames) throw new TranscodeError(`the Pixel Data holds ${written} frames, not ${description.numberOfFrames}`);
    if (length % 2 === 1) yield Buffer.alloc(1);
  } else {
    yield writer.header(PIXEL_DATA, 'OB', UNDEFINED_LENGTH);
    yield writer.header(ITEM, '', 0); // an empty Basic Offset Table
    const fragment = (bytes: Buffer) => [writer.header(ITEM, '', bytes.length + (bytes.length % 2)), bytes, ...(bytes.length % 2 ? [Buffer.alloc(1)] : [])];
    yield Buffer.concat(fragment(first.bytes));
    for await (const frame of frames) yield Buffer.concat(fragment((await convert(frame)).bytes));
    yield writer.header(SEQUENCE_DELIMITATION, '', 0);
  }
}

/** `header` with Photometric Interpretation and Planar Configuration as the converted frames have them. */
function withPixelModule(header: RawElement[], before: PixelDescription, after: PixelDescription): RawElement[] {
  return header.map((element) => {
    if (element.tag === PHOTOMETRIC_INTERPRETATION && after.photometricInterpretation !== before.photometricInterpretation) {
      return { ...element, value: textValue(after.photometricInterpretation) };
    }
    if (element.tag === PLANAR_CONFIGURATION && after.planarConfiguration !== undefined && after.planarConfiguration !== before.planarConfiguration) {
      const value = Buffer.alloc(2);
      value.writeUInt16LE(after.planarConfiguration);
      return { ...element, value };
    }
    return element;
  });
}

function pixelDescription(header: RawElement[]): PixelDescription {
  const number = (tag: number) => numberAt(header, tag);
  const rows = number(0x00280010);
  const columns = number(0x00280011);
  const bitsAllocated = number(0x00280100);
  const photometric = header.find((element) => element.tag === PHOTOMETRIC_INTERPRETATION);
  if (!rows || !columns || !bitsAllocated || !photometric || !('value' in photometric)) {
    throw new TranscodeError('the Image Pixel Module is incomplete: Rows, Columns, Bits Allocated and Photometric Interpretation are needed');
  }
  const bitsStored = number(0x00280101) ?? bitsAllocated;
  const frames = header.find((element) => element.tag === 0x00280008);
  return {
    rows, columns, bitsAllocated, bitsStored,
    samplesPerPixel: number(0x00280002) ?? 1,
    highBit: number(0x00280102) ?? bitsStored - 1,
    pixelRepresentation: number(0x00280103) ?? 0,
    planarConfiguration: number(PLANAR_CONFIGURATION),
    photometricInterpretation: photometric.value.toString('latin1').replace(/[\0 ]+$/, '').trim(),
    numberOfFrames: frames && 'value' in frames ? Number(frames.value.toString('latin1').trim()) || 1 : 1,
  };
}

function numberAt(header: RawElement[], tag: number): number | undefined {
  const element = header.find((candidate) => candidate.tag === tag);
  return element && 'value' in element && element.value.length >= 2 ? element.value.readUInt16LE(0) : undefined;
}

const uidText = (value: Buffer) => value.toString('latin1').replace(/[\0 ]+$/, '');
const padded = (text: string, pad: string) => Buffer.from(text.length % 2 ? text + pad : text, 'latin1');
const uidValue = (uid: string) => padded(uid, '\0');
const textValue = (text: string) => padded(text, ' ');
