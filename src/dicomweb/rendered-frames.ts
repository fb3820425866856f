// The bytes of one frame of a stored instance, for rendering: the frame's byte ranges of the blob
// (frame_offsets), never the whole object. Deflated data sets have no such ranges: their pixel data
// is inflated as a stream up to the frame, keeping only the frame.
import type { BlobStore } from '../blob/index.ts';
import type { ByteRange } from '../dicom/index.ts';
import { NotRenderableError, pixelDescriptionOf, type RenderableImage } from '../dicom/render.ts';
import { nativeFrameLength } from '../dicom/transcode-codecs.ts';
import { badRequest, notFound } from '../http/errors.ts';
import type { StoredInstance } from './locate.ts';
import { pixelDataOf, readStoredRanges } from './wado-pixels.ts';

/** How many frames the instance has, for frame numbers in requests. */
export const frameCountOf = (instance: StoredInstance, image: RenderableImage) => instance.frames?.length ?? image.numberOfFrames;

/** PS3.18 10.4.1.1.3: a frame list is frame numbers from 1, separated by commas. 404 for a frame the instance does not have. */
export function frameNumbersOf(list: string, frameCount?: number): number[] {
  const numbers = list.split(',').map((part) => part.trim());
  if (numbers.some((part) => !/^[1-9]\d{0,8}$/.test(part))) throw badRequest(`"${list}" is not a list of frame numbers from 1`, 'frames');
  const frames = numbers.map(Number);
  if (frameCount !== undefined) {
    const missing = frames.find((frame) => frame > frameCount);
    if (missing !== undefined) throw notFound(`the instance has ${frameCount} frame${frameCount === 1 ? '' : 's'}; there is no frame ${missing}`);
  }
  return frames;
}

/** The stored bytes of frame `index` (from 0): native pixels (in the stored byte order), or the frame's encoded bitstream. */
export async function readFrame(blobs: BlobStore, instance: StoredInstance, image: RenderableImage, index: number): Promise<Buffer> {
  const ranges = instance.frames?.[index]?.ranges ?? unlocatedFrameRanges(instance, image, index);
  const parts = await readStoredRanges(blobs, instance, ranges);
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}

/**
 * Frames ingest did not locate, as in a deflated data set: native frames follow one another in the
 * Pixel Data value (whose offsets then count inflated bytes, which readStoredRanges reads).
 */
function unlocatedFrameRanges(instance: StoredInstance, image: RenderableImage, index: number): ByteRange[] {
  const pixelData = pixelDataOf(instance);
  if (!pixelData || pixelData.encapsulated) throw new NotRenderableError('the frames of this instance could not be located in its pixel data');
  const length = nativeFrameLength(pixelDescriptionOf(image));
  const byteAligned = (image.rows * image.columns * image.samplesPerPixel * image.bitsAllocated) % 8 === 0;
  if ((!byteAligned && index > 0) || length * (index + 1) > pixelData.length) {
    throw new NotRenderableError(`frame ${index + 1} cannot be located in the Pixel Data`);
  }
  return [{ offset: pixelData.offset + index * length, length }];
}
