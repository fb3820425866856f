// WADO-RS Retrieve Bulkdata (PS3.18 10.4.1.1.5): the value a BulkDataURI of the metadata names,
// found by its tag path among the locations ingest recorded and read by its byte range. Values
// go out little endian (PS3.18 8.7.3.3.1); encapsulated Pixel Data goes out frame by frame, as
// the frames resource serves it.
import type { Request, RequestHandler } from 'express';
import type { BlobStore } from '../blob/index.ts';
import type { BulkDataLocation } from '../dicom/index.ts';
import { swapWords, wordSizeOf } from '../dicom/transcode-elements.ts';
import { EXPLICIT_VR_BIG_ENDIAN, EXPLICIT_VR_LITTLE_ENDIAN } from '../dicom/transcode-syntaxes.ts';
import { dataSetEncodingOf } from '../dicom/transfer-syntaxes.ts';
import { badRequest, notAcceptable, notFound } from '../http/errors.ts';
import { auditImagingRead, callerReader, type DicomwebServices } from './context.ts';
import { locateInstances, type StoredInstanceWithPixels } from './locate.ts';
import { resourcePath } from './params.ts';
import { acceptedBulkDataPayload, acceptedMediaRanges } from './accept.ts';
import { pixelOutputOf } from './wado-frames.ts';
import {
  PIXEL_DATA_REFERENCE, asParts, convertFrames, framesReadable, partContentType, readStoredFrames, readStoredRanges,
} from './wado-pixels.ts';
import { sendMultipart, sendSinglePart } from './wado-response.ts';

const OCTET_STREAM = 'application/octet-stream';
/** A tag, then any number of (item index, tag) pairs: the reference of a BulkDataURI placeholder. */
const REFERENCE = /^[0-9A-F]{8}(\/\d+\/[0-9A-F]{8})*$/;
const ITEM = 0xfffee000;

export function retrieveBulkData(services: DicomwebServices): RequestHandler {
  return async (req, res) => {
    const path = resourcePath(req);
    const reference = referenceOf(req);
    const ranges = acceptedMediaRanges(req);
    const [instance] = await locateInstances(callerReader(services, req), path, { withPixelDescription: true }) as [StoredInstanceWithPixels];
    const location = instance.bulkData?.find((candidate) => candidate.reference === reference);
    if (!location) throw notFound(`instance ${path.instance} has no bulk data ${reference}`);

    if (reference === PIXEL_DATA_REFERENCE && location.encapsulated) {
      if (!framesReadable(instance)) throw notAcceptable(`the frames of instance ${path.instance} are not stored apart; retrieve the instance`);
      const numbers = Array.from({ length: instance.numberOfFrames ?? 1 }, (_, index) => index + 1);
      const output = pixelOutputOf(instance, ranges, numbers.length);
      await auditImagingRead(services, req, 'DICOM_RETRIEVE', [instance.studyId], { bulkData: reference });
      const frames = convertFrames(readStoredFrames(services.blobs, instance, numbers), instance, output);
      if (!output.multipart) await sendSinglePart(res, partContentType(output), frames);
      else await sendMultipart(res, output.mediaType, asParts(frames, partContentType(output)));
      return;
    }

    const { multipart } = acceptedBulkDataPayload(ranges);
    await auditImagingRead(services, req, 'DICOM_RETRIEVE', [instance.studyId], { bulkData: reference });
    // Native Pixel Data is little endian once served, whatever it was stored in.
    const contentType = reference === PIXEL_DATA_REFERENCE ? `${OCTET_STREAM}; transfer-syntax=${EXPLICIT_VR_LITTLE_ENDIAN}` : OCTET_STREAM;
    const body = storedValue(services.blobs, instance, location);
    if (multipart) await sendMultipart(res, OCTET_STREAM, [{ contentType, body }]);
    else await sendSinglePart(res, contentType, body);
  };
}

/** The tag path after /bulkdata/, upper-cased, or 400. */
function referenceOf(req: Request): string {
  const segments = req.params.reference as unknown as string[] | string;
  const reference = (Array.isArray(segments) ? segments.join('/') : String(segments)).toUpperCase();
  if (!REFERENCE.test(reference)) throw badRequest(`"${reference}" is not a bulk data reference (a tag path such as 7FE00010 or 00880200/0/7FE00010)`);
  return reference;
}

/**
 * A bulk value as served: streamed from its byte range, little endian (a big endian one is byte
 * swapped by its VR as it streams), the fragments of an encapsulated one (an icon image) joined.
 */
async function* storedValue(blobs: BlobStore, instance: StoredInstanceWithPixels, location: BulkDataLocation): AsyncGenerator<Buffer> {
  if (location.encapsulated) {
    const [bytes] = await readStoredRanges(blobs, instance, [location]);
    yield* fragmentsOf(bytes!);
    return;
  }
  if (dataSetEncodingOf(instance.transferSyntaxUid).deflated) {
    yield* await readStoredRanges(blobs, instance, [location]);
    return;
  }
  const stream = (await blobs.get(instance.storageKey, { start: location.offset, end: location.offset + location.length - 1 }, { blobSize: instance.byteSize })) as AsyncIterable<Buffer>;
  const wordSize = instance.transferSyntaxUid === EXPLICIT_VR_BIG_ENDIAN ? wordSizeOf(location.vr) : 1;
  if (wordSize === 1) {
    yield* stream;
    return;
  }
  let carried = Buffer.alloc(0);
  for await (const chunk of stream) {
    const bytes = carried.length > 0 ? Buffer.concat([carried, chunk]) : chunk;
    const whole = bytes.length - (bytes.length % wordSize);
    carried = Buffer.from(bytes.subarray(whole));
    if (whole > 0) yield swapWords(Buffer.from(bytes.subarray(0, whole)), wordSize);
  }
  if (carried.length > 0) yield carried;
}

/** The fragments of encapsulated data (PS3.5 A.4), the Basic Offset Table left out. */
function* fragmentsOf(items: Buffer): Generator<Buffer> {
  let offset = 0;
  let first = true;
  while (offset + 8 <= items.length) {
    const tag = ((items.readUInt16LE(offset) << 16) | items.readUInt16LE(offset + 2)) >>> 0;
    const length = items.readUInt32LE(offset + 4);
    if (tag !== ITEM) break; // the Sequence Delimitation Item
    if (!first) yield items.subarray(offset + 8, offset + 8 + length);
    first = false;
    offset += 8 + length;
  }
}
