// WADO-RS Retrieve Instances of a study, series or instance (PS3.18 10.4.1.1.1): the stored
// PS3.10 files as multipart/related; type="application/dicom", streamed from the blob store, or
// rewritten on the way in the Transfer Syntax the client accepts (PS3.18 8.7.3.5.2, 8.7.8).
import type { RequestHandler } from 'express';
import type { BlobStore } from '../blob/index.ts';
import { cannotTranscode, transcodeInstance, type TranscodeSubject } from '../dicom/transcode.ts';
import { EXPLICIT_VR_LITTLE_ENDIAN } from '../dicom/transcode-syntaxes.ts';
import { notAcceptable } from '../http/errors.ts';
import { auditImagingRead, callerReader, type DicomwebServices } from './context.ts';
import { locateInstances, type StoredInstanceWithPixels } from './locate.ts';
import { resourcePath } from './params.ts';
import { acceptedInstanceSyntaxes, acceptedMediaRanges, orDefault, refuses, type AcceptedSyntax, type InstanceAcceptance, type MediaRange } from './accept.ts';
import { BlobSource } from './wado-blob-source.ts';
import { pixelDataOf } from './wado-pixels.ts';
import { sendMultipart, sendSinglePart, type ResponsePart } from './wado-response.ts';

const DICOM = 'application/dicom';

interface Selection {
  transferSyntax: string;
  transcode: boolean;
  multipart: boolean;
}

export function retrieveInstances(services: DicomwebServices): RequestHandler {
  return async (req, res) => {
    const path = resourcePath(req);
    const ranges = acceptedMediaRanges(req);
    const accepted = acceptedInstanceSyntaxes(ranges);
    const instances = await locateInstances(callerReader(services, req), path, { withPixelDescription: true });
    // A single-part payload holds one instance only.
    const usable = instances.length === 1 ? accepted : accepted.filter((acceptance) => acceptance.multipart);
    if (usable.length === 0) throw notAcceptable(`${instances.length} instances are served as multipart/related only`);
    const selections = instances.map((instance) => selectTransferSyntax(instance, usable, ranges));
    await auditImagingRead(services, req, 'DICOM_RETRIEVE', [...new Set(instances.map((instance) => instance.studyId))]);

    const parts = instances.map((instance, index): ResponsePart => {
      const { transferSyntax, transcode } = selections[index]!;
      return { contentType: `${DICOM}; transfer-syntax=${transferSyntax}`, body: instanceBytes(services.blobs, instance, transferSyntax, transcode) };
    });
    if (!selections[0]!.multipart) await sendSinglePart(res, parts[0]!.contentType, parts[0]!.body);
    else await sendMultipart(res, DICOM, parts);
  };
}

/**
 * The first accepted Transfer Syntax the instance can be served in. Without one named, the
 * default is Explicit VR Little Endian, except where the instance cannot be decompressed (PS3.18
 * 8.7.3: e.g. pixel data only held lossy or in a form no codec here reads): then as stored.
 */
export function selectTransferSyntax(instance: StoredInstanceWithPixels, accepted: InstanceAcceptance[], ranges: MediaRange[] = []): Selection {
  const stored = instance.transferSyntaxUid;
  const subject = transcodeSubject(instance);
  const refused = (transferSyntax: string) => refuses(ranges, DICOM, { 'transfer-syntax': transferSyntax });
  for (const { transferSyntax, multipart } of accepted) {
    for (const asked of orDefault(transferSyntax)) {
      const served = servedSyntax(subject, asked);
      if (served && !refused(served.transferSyntax)) return { ...served, multipart };
    }
  }
  const reasons = new Set(accepted.map(({ transferSyntax }) => cannotTranscode(subject, transferSyntax ?? EXPLICIT_VR_LITTLE_ENDIAN) ?? 'refused with q=0'));
  throw notAcceptable(`instance ${instance.sopInstanceUid} (stored in Transfer Syntax ${stored}) cannot be served as asked: ${[...reasons].join('; ')}`);
}

/** The Transfer Syntax an acceptance gives the instance (`asked` undefined: the default), and whether that takes transcoding. */
function servedSyntax(subject: TranscodeSubject, asked: AcceptedSyntax): Omit<Selection, 'multipart'> | undefined {
  const stored = subject.transferSyntaxUID;
  const target = asked ?? EXPLICIT_VR_LITTLE_ENDIAN;
  if (asked === '*' || target === stored) return { transferSyntax: stored, transcode: false };
  if (cannotTranscode(subject, target) === undefined) return { transferSyntax: target, transcode: true };
  if (asked === undefined) return { transferSyntax: stored, transcode: false };
  return undefined;
}

function transcodeSubject(instance: StoredInstanceWithPixels): TranscodeSubject {
  const pixelData = pixelDataOf(instance);
  return {
    transferSyntaxUID: instance.transferSyntaxUid,
    ...(pixelData ? { pixelData: { encapsulated: pixelData.encapsulated, description: instance.pixelDescription, framesLocated: instance.frames !== null } } : {}),
  };
}

/** The stored file, as it is or rewritten; nothing is read before the response asks for it. */
export async function* instanceBytes(blobs: BlobStore, instance: StoredInstanceWithPixels, transferSyntax: string, transcode: boolean): AsyncGenerator<Buffer> {
  if (!transcode) {
    yield* (await blobs.get(instance.storageKey)) as AsyncIterable<Buffer>;
    return;
  }
  yield* transcodeInstance(new BlobSource(blobs, instance.storageKey, instance.byteSize), transferSyntax, { frames: instance.frames });
}
