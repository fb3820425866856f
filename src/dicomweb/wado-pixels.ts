// The pixel data of a stored instance as WADO-RS serves it (frames, and pixel data bulk data):
// which media type and Transfer Syntax each frame goes out in (PS3.18 8.7.8), and its bytes —
// read by byte ranges of the blob (or of the inflated data set), byte swapped when stored big
// endian, decoded when stored compressed and asked native, encoded when asked compressed.
import type { BlobStore } from '../blob/index.ts';
import type { BulkDataLocation, ByteRange } from '../dicom/index.ts';
import { canDecode, decodeFrame, encodeFrame, nativeFrameLength, type PixelDescription } from '../dicom/transcode-codecs.ts';
import { swapWords, wordSizeOf } from '../dicom/transcode-elements.ts';
import {
  EXPLICIT_VR_BIG_ENDIAN, EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN, defaultSyntaxOfMediaType, isNative,
  mediaTypeOfSyntax, syntaxesOfMediaType,
} from '../dicom/transcode-syntaxes.ts';
import { cannotTranscode, openDataSet, readFileMeta } from '../dicom/transcode.ts';
import { dataSetEncodingOf } from '../dicom/transfer-syntaxes.ts';
import { notAcceptable } from '../http/errors.ts';
import type { PixelAcceptance } from './accept.ts';
import { BlobSource, readBlobRange } from './wado-blob-source.ts';
import type { StoredInstance, StoredInstanceWithPixels } from './locate.ts';
import type { ResponsePart } from './wado-response.ts';

export const PIXEL_DATA_REFERENCE = '7FE00010';
const OCTET_STREAM = 'application/octet-stream';
/** Native little endian frames are the same bytes whichever of these a client names. */
const NATIVE_LITTLE_ENDIAN = new Set([EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN]);

/** How frames leave: the part's media type and Transfer Syntax, and what is done to the stored bytes. */
export interface PixelOutput {
  mediaType: string;
  transferSyntax: string;
  /** `native`: stored native, served little endian; `decode`: stored compressed, served native; `encode`: served compressed in another syntax. */
  conversion: 'none' | 'native' | 'decode' | 'encode';
  /** Whether the acceptance chosen asked for a multipart payload. */
  multipart: boolean;
}

export const pixelDataOf = (instance: StoredInstance): BulkDataLocation | undefined =>
  instance.bulkData?.find((location) => location.reference === PIXEL_DATA_REFERENCE);

/** The first acceptable way to serve the frames of `instance` (406 when there is none). */
export function selectPixelOutput(instance: StoredInstanceWithPixels, acceptances: PixelAcceptance[]): PixelOutput {
  const stored = instance.transferSyntaxUid;
  const description = instance.pixelDescription;
  const pixelData = pixelDataOf(instance);
  const subject = {
    transferSyntaxUID: stored,
    pixelData: { encapsulated: pixelData?.encapsulated ?? !isNative(stored), description, framesLocated: true },
  };
  const canServeNative = isNative(stored) || (canDecode(stored) && description !== undefined);
  const native = (multipart: boolean): PixelOutput | undefined => canServeNative
    ? { mediaType: OCTET_STREAM, transferSyntax: EXPLICIT_VR_LITTLE_ENDIAN, conversion: isNative(stored) ? 'native' : 'decode', multipart }
    : undefined;
  const asStored = (multipart: boolean, name?: string): PixelOutput | undefined => isNative(stored)
    ? native(multipart)
    : { mediaType: name ?? mediaTypeOfSyntax(stored), transferSyntax: stored, conversion: 'none', multipart };
  const encoded = (target: string | undefined, multipart: boolean, name?: string): PixelOutput | undefined =>
    target && cannotTranscode(subject, target) === undefined && !isNative(target)
      ? { mediaType: name ?? mediaTypeOfSyntax(target), transferSyntax: target, conversion: 'encode', multipart }
      : undefined;

  for (const { mediaType, name, transferSyntax, multipart } of acceptances) {
    let output: PixelOutput | undefined;
    if (mediaType === '*/*') {
      if (transferSyntax === undefined) output = native(multipart) ?? asStored(multipart);
      else if (transferSyntax === '*' || transferSyntax === stored) output = asStored(multipart);
      else if (NATIVE_LITTLE_ENDIAN.has(transferSyntax)) output = native(multipart);
      else output = encoded(transferSyntax, multipart);
    } else if (mediaType === OCTET_STREAM) {
      if (transferSyntax === '*') output = asStored(multipart);
      else if (transferSyntax === undefined || NATIVE_LITTLE_ENDIAN.has(transferSyntax)) output = native(multipart);
    } else if (mediaType === 'image/*' || mediaType === 'video/*') {
      const family = mediaType.slice(0, 6);
      const storedFits = !isNative(stored) && mediaTypeOfSyntax(stored).startsWith(family);
      if (transferSyntax === undefined || transferSyntax === '*' || transferSyntax === stored) output = storedFits ? asStored(multipart) : undefined;
      else if (mediaTypeOfSyntax(transferSyntax).startsWith(family)) output = encoded(transferSyntax, multipart);
    } else {
      const syntaxes = syntaxesOfMediaType(mediaType);
      if (transferSyntax === undefined || transferSyntax === '*') {
        output = syntaxes.includes(stored) ? asStored(multipart, name) : encoded(defaultSyntaxOfMediaType(mediaType), multipart, name);
      } else if (syntaxes.includes(transferSyntax)) {
        output = transferSyntax === stored ? asStored(multipart, name) : encoded(transferSyntax, multipart, name);
      }
    }
    if (output) return output;
  }
  throw notAcceptable(`the pixel data of instance ${instance.sopInstanceUid} (Transfer Syntax ${stored}) cannot be served in any of the accepted media types`);
}

/** The Content-Type of a frame part: its media type and the Transfer Syntax it is in (PS3.18 8.7.3.5.2). */
export const partContentType = (output: PixelOutput) => `${output.mediaType}; transfer-syntax=${output.transferSyntax}`;

/** The bytes of frames `numbers` (1-based) as stored, in that order, each read when asked for; native ones little endian. */
export async function* readStoredFrames(blobs: BlobStore, instance: StoredInstanceWithPixels, numbers: number[]): AsyncGenerator<Buffer> {
  const pixelData = pixelDataOf(instance);
  if (!pixelData) throw new Error(`instance ${instance.sopInstanceUid} has no Pixel Data`);
  const frames = instance.frames ?? nativeFramesOf(instance, pixelData);
  const littleEndian = (frame: Buffer) => (instance.transferSyntaxUid === EXPLICIT_VR_BIG_ENDIAN ? swapWords(frame, wordSizeOf(pixelData.vr)) : frame);
  const joined = (parts: Buffer[]) => (parts.length === 1 ? parts[0]! : Buffer.concat(parts));
  if (dataSetEncodingOf(instance.transferSyntaxUid).deflated) {
    // Inflating is sequential: one pass reads every frame asked for.
    const bytes = await readStoredRanges(blobs, instance, numbers.map((number) => frames[number - 1]!.ranges[0]!));
    for (const frame of bytes) yield littleEndian(frame);
    return;
  }
  for (const number of numbers) yield littleEndian(joined(await readStoredRanges(blobs, instance, frames[number - 1]!.ranges)));
}

/** Whether the frames of `instance` can be read one by one. */
export function framesReadable(instance: StoredInstanceWithPixels): boolean {
  const pixelData = pixelDataOf(instance);
  if (!pixelData) return false;
  if (instance.frames) return true;
  if (pixelData.encapsulated) return false;
  return (instance.numberOfFrames ?? 1) === 1 || (instance.pixelDescription !== undefined && instance.pixelDescription.bitsAllocated % 8 === 0);
}

/** Native frames of a deflated instance (or one whose frames ingest did not locate): consecutive in the Pixel Data value. */
function nativeFramesOf(instance: StoredInstanceWithPixels, pixelData: BulkDataLocation) {
  const count = instance.numberOfFrames ?? 1;
  if (count === 1) return [{ length: pixelData.length, ranges: [{ offset: pixelData.offset, length: pixelData.length }] }];
  if (!instance.pixelDescription) throw new Error(`the frames of instance ${instance.sopInstanceUid} cannot be located`);
  const length = nativeFrameLength(instance.pixelDescription);
  return Array.from({ length: count }, (_, index) => ({ length, ranges: [{ offset: pixelData.offset + index * length, length }] }));
}

/**
 * The bytes of `ranges` of a stored instance, in order: ranges of the blob, or of the inflated
 * data set when the instance is deflated (BulkDataLocation offsets then count inflated bytes);
 * those are read in one pass, so they must not overlap.
 */
export async function readStoredRanges(blobs: BlobStore, instance: StoredInstance, ranges: ByteRange[]): Promise<Buffer[]> {
  if (!dataSetEncodingOf(instance.transferSyntaxUid).deflated) {
    return Promise.all(ranges.map((range) => readBlobRange(blobs, instance.storageKey, range.offset, range.length, instance.byteSize)));
  }
  const source = new BlobSource(blobs, instance.storageKey, instance.byteSize);
  const reader = await openDataSet(source, await readFileMeta(source));
  try {
    const order = ranges.map((range, index) => ({ range, index })).sort((a, b) => a.range.offset - b.range.offset);
    const bytes: Buffer[] = new Array(ranges.length);
    for (const { range, index } of order) {
      await reader.skip(range.offset - reader.position);
      bytes[index] = await reader.read(range.length);
    }
    return bytes;
  } finally {
    reader.close();
  }
}

/** Frames (as stored, native ones little endian) converted as `output` says, one at a time. */
export async function* convertFrames(frames: AsyncIterable<Buffer>, instance: StoredInstanceWithPixels, output: PixelOutput): AsyncGenerator<Buffer> {
  for await (const frame of frames) yield await convertFrame(frame, instance, output);
}

/** Each frame one part of a multipart payload. */
export async function* asParts(frames: AsyncIterable<Buffer>, contentType: string): AsyncGenerator<ResponsePart> {
  for await (const frame of frames) yield { contentType, body: frame };
}

/** One frame (as stored, native ones little endian) converted as `output` says. */
async function convertFrame(frame: Buffer, instance: StoredInstanceWithPixels, output: PixelOutput): Promise<Buffer> {
  if (output.conversion === 'none' || output.conversion === 'native') return frame;
  const description = instance.pixelDescription as PixelDescription;
  const native = isNative(instance.transferSyntaxUid) ? { bytes: frame, description } : await decodeFrame(frame, instance.transferSyntaxUid, description);
  if (output.conversion === 'decode') return native.bytes;
  return (await encodeFrame(native.bytes, output.transferSyntax, native.description)).bytes;
}
