// WADO-RS Retrieve Frames (PS3.18 10.4.1.1.3): frames of one instance, 1-based, in the order
// listed, as native little endian pixel data or in a compressed media type with the Transfer
// Syntax on each part. Each frame is read by its byte ranges in the stored object.
import type { RequestHandler } from 'express';
import { badRequest, HttpError, notAcceptable, notFound } from '../http/errors.ts';
import { auditImagingRead, callerReader, type DicomwebServices } from './context.ts';
import { locateInstances, type StoredInstanceWithPixels } from './locate.ts';
import { resourcePath } from './params.ts';
import { acceptedMediaRanges, acceptedPixelMediaTypes, orDefault, refuses, type MediaRange } from './accept.ts';
import { asParts, convertFrames, framesReadable, partContentType, pixelDataOf, readStoredFrames, selectPixelOutput, type PixelOutput } from './wado-pixels.ts';
import { sendMultipart, sendSinglePart } from './wado-response.ts';

export function retrieveFrames(services: DicomwebServices): RequestHandler {
  return async (req, res) => {
    const path = resourcePath(req);
    const numbers = frameList(String(req.params.frames));
    const ranges = acceptedMediaRanges(req);
    const [instance] = await locateInstances(callerReader(services, req), path, { withPixelDescription: true }) as [StoredInstanceWithPixels];
    if (!pixelDataOf(instance)) throw notFound(`instance ${path.instance} has no Pixel Data, so no frames`);
    const numberOfFrames = instance.numberOfFrames ?? 1;
    const missing = numbers.filter((number) => number > numberOfFrames);
    if (missing.length > 0) throw notFound(`instance ${path.instance} has ${numberOfFrames} frame(s); there is no frame ${missing.join(', ')}`);
    if (!framesReadable(instance)) throw notAcceptable(`the frames of instance ${path.instance} are not stored apart; retrieve the instance or its Pixel Data bulk data`);
    const output = pixelOutputOf(instance, ranges, numbers.length);
    await auditImagingRead(services, req, 'DICOM_RETRIEVE', [instance.studyId], { frames: numbers });

    const frames = convertFrames(readStoredFrames(services.blobs, instance, numbers), instance, output);
    if (!output.multipart) await sendSinglePart(res, partContentType(output), frames);
    else await sendMultipart(res, output.mediaType, asParts(frames, partContentType(output)));
  };
}

/**
 * How `frameCount` frames of `instance` go out: the first accepted way (PS3.18 8.7.8) whose media
 * type and Transfer Syntax the client did not refuse with q=0; several frames need a multipart payload.
 */
export function pixelOutputOf(instance: StoredInstanceWithPixels, ranges: MediaRange[], frameCount: number): PixelOutput {
  const usable = acceptedPixelMediaTypes(ranges).filter((acceptance) => acceptance.multipart || frameCount === 1);
  if (usable.length === 0) throw notAcceptable('several frames are served as multipart/related only');
  for (const acceptance of usable) {
    for (const transferSyntax of orDefault(acceptance.transferSyntax)) {
      const output = unlessNotAcceptable(() => selectPixelOutput(instance, [{ ...acceptance, transferSyntax }]));
      if (output && !refuses(ranges, output.mediaType, { 'transfer-syntax': output.transferSyntax })) return output;
    }
  }
  return selectPixelOutput(instance, []);
}

function unlessNotAcceptable<T>(select: () => T): T | undefined {
  try {
    return select();
  } catch (error) {
    if (error instanceof HttpError && error.status === 406) return undefined;
    throw error;
  }
}

/** PS3.18 10.4.1.1.3: the frame list is comma-separated frame numbers, each a positive integer, none twice. */
function frameList(text: string): number[] {
  if (!/^\d+(,\d+)*$/.test(text)) throw badRequest(`"${text}" is not a list of frame numbers separated by commas`);
  const numbers = text.split(',').map(Number);
  if (numbers.some((number) => number < 1 || !Number.isSafeInteger(number))) throw badRequest('frame numbers start at 1');
  if (new Set(numbers).size !== numbers.length) throw badRequest('a frame number is listed more than once');
  return numbers;
}
