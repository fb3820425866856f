// STOW-RS (PS3.18 10.5): POST /studies and /studies/{study} with a multipart/related body of
// application/dicom parts. Each part is spooled, parsed once and stored as it arrives, while the
// next ones arrive; the answer, once every part is stored or refused, lists what was stored and
// what failed, with the PS3.7 failure reason of each failure.
//
// Policies a client should know (also in README and the conformance statement):
// - the same bytes sent again under a stored SOP Instance UID succeed (nothing changes);
//   other bytes under a stored SOP Instance UID fail with 0x0111 (Duplicate SOP Instance) — a
//   stored instance is never overwritten;
// - with a study in the URL, an instance of another study fails with 0xA900;
// - a part that is not application/dicom, or not a readable PS3.10 instance, fails with 0xC000;
// - the body breaking off (truncated, malformed, a part over the size limit) ends the request:
//   400 or 413 when nothing was stored, else 202 with the stored instances and one failure
//   item for the unread rest. Instances completed before the break stay stored.
import { Router, type Response } from 'express';
import { FailureReason, InstanceParseError, nativeDicomModel, parseInstanceBuffer, parseInstanceFile } from '../dicom/index.ts';
import { HttpError } from '../http/errors.ts';
import { acceptedMediaRanges, chooseDataSetMediaType, DICOM_JSON_MEDIA_TYPE, type DataSetMediaType } from './accept.ts';
import { imagingCaller, type DicomwebServices } from './context.ts';
import type { IngestCaller } from './ingest.ts';
import { DICOM_MEDIA_TYPE, readMultipartRelated, type MultipartPart } from './multipart.ts';
import { uidParam } from './params.ts';
import { storeResponse, storeResponseStatus, type FailedReference, type StoredReference } from './store-response.ts';

type PartOutcome =
  | { stored: StoredReference }
  | { failed: FailedReference; message: string };

/**
 * Parts being stored at once: their rows share transactions (src/dicomweb/ingest.ts), and
 * receiving the next parts overlaps with storing these.
 */
const PARTS_IN_FLIGHT = 16;

/** How many failure messages are repeated as Warning header fields. */
const MAX_WARNINGS = 10;

export function stowRoutes(services: DicomwebServices): Router {
  const router = Router();
  router.post(['/studies', '/studies/:study'], async (req, res) => {
    const studyInUrl = req.params.study === undefined ? undefined : uidParam(req, 'study');
    const mediaType = chooseDataSetMediaType(acceptedMediaRanges(req), 'the Store Instances Response', 'single-part');
    const caller = imagingCaller(req);
    const storing: Promise<PartOutcome>[] = [];
    const inFlight = new Set<Promise<void>>();
    let brokenOff: HttpError | undefined;
    try {
      const parts = readMultipartRelated(req, req.get('content-type'), { tempDir: services.tempDir, maxPartBytes: services.maxInstanceBytes });
      for await (const part of parts) {
        part.retain();
        const outcome = storePart(services, caller, part, studyInUrl).finally(() => part.remove());
        storing.push(outcome);
        const settled = outcome.then(() => undefined, () => undefined);
        inFlight.add(settled);
        void settled.then(() => inFlight.delete(settled));
        while (inFlight.size >= PARTS_IN_FLIGHT) await Promise.race(inFlight);
      }
    } catch (error) {
      if (!(error instanceof HttpError)) {
        await Promise.allSettled(storing);
        throw error;
      }
      brokenOff = error;
    }
    const outcomes = await everyOutcome(storing);
    if (brokenOff) {
      if (!outcomes.some((outcome) => 'stored' in outcome)) throw brokenOff;
      outcomes.push({ failed: { failureReason: FailureReason.CannotUnderstand }, message: `the rest of the body could not be read: ${brokenOff.message}` });
    }
    if (outcomes.length === 0) throw new HttpError(400, 'invalid', 'the multipart body has no part');
    answer(services, res, outcomes, mediaType);
  });
  return router;
}

/** The outcomes once every part is done; the first unexpected error, if any, once they all are. */
async function everyOutcome(storing: Promise<PartOutcome>[]): Promise<PartOutcome[]> {
  const settled = await Promise.allSettled(storing);
  const failure = settled.find((result) => result.status === 'rejected');
  if (failure) throw failure.reason;
  return settled.map((result) => (result as PromiseFulfilledResult<PartOutcome>).value);
}

/** A failure is audited as it is answered. */
async function storePart(services: DicomwebServices, caller: IngestCaller, part: MultipartPart, studyInUrl: string | undefined): Promise<PartOutcome> {
  const outcome = await storeOrRefuse(services, caller, part, studyInUrl);
  if ('failed' in outcome) await auditFailure(services, caller, part, outcome);
  return outcome;
}

async function storeOrRefuse(services: DicomwebServices, caller: IngestCaller, part: MultipartPart, studyInUrl: string | undefined): Promise<PartOutcome> {
  if (part.mediaType !== DICOM_MEDIA_TYPE) {
    return { failed: { failureReason: FailureReason.CannotUnderstand }, message: `part ${part.number} is ${part.mediaType}, not ${DICOM_MEDIA_TYPE}` };
  }
  let instance;
  try {
    instance = await (part.bytes ? parseInstanceBuffer(part.bytes) : parseInstanceFile(part.path));
  } catch (error) {
    if (!(error instanceof InstanceParseError)) throw error;
    return { failed: { failureReason: error.failureReason }, message: `part ${part.number}: ${error.message}` };
  }
  const { StudyInstanceUID: studyUid, SeriesInstanceUID: seriesUid, SOPInstanceUID: sopInstanceUid, SOPClassUID: sopClassUid } = instance.attributes;
  const reference = { sopClassUid, sopInstanceUid };
  if (studyInUrl !== undefined && studyUid !== studyInUrl) {
    return {
      failed: { ...reference, failureReason: FailureReason.DataSetDoesNotMatchSOPClass },
      message: `part ${part.number} is an instance of study ${studyUid}, not of study ${studyInUrl} that the URL names`,
    };
  }
  const result = await services.ingest.store(caller, instance, part);
  if (!result.stored) return { failed: { ...reference, failureReason: result.reason }, message: `part ${part.number}: ${result.message}` };
  return { stored: { ...reference, studyUid, seriesUid } };
}

/** A refused instance is a failed write of imaging data: audited like a stored one. */
async function auditFailure(services: DicomwebServices, caller: IngestCaller, part: MultipartPart, outcome: Extract<PartOutcome, { failed: unknown }>) {
  await services.audit.record({
    ...caller.audit, tenantId: caller.tenantId, eventType: 'DICOM_STORE', resourceType: 'ImagingStudy', outcome: 'FAILURE',
    metadata: { part: part.number, failureReason: outcome.failed.failureReason, sopInstanceUid: outcome.failed.sopInstanceUid, message: outcome.message },
  });
}

function answer(services: DicomwebServices, res: Response, outcomes: PartOutcome[], mediaType: DataSetMediaType): void {
  const stored = outcomes.flatMap((outcome) => ('stored' in outcome ? [outcome.stored] : []));
  const failed = outcomes.flatMap((outcome) => ('failed' in outcome ? [outcome] : []));
  const warnings = failed.slice(0, MAX_WARNINGS).map((outcome) => `299 cusp "${outcome.message.replace(/["\\\r\n]/g, ' ')}"`);
  if (warnings.length > 0) res.set('Warning', warnings);
  const response = storeResponse(services.baseUrl, stored, failed.map((outcome) => outcome.failed));
  res.status(storeResponseStatus(stored.length, failed.length)).type(mediaType)
    .send(mediaType === DICOM_JSON_MEDIA_TYPE ? JSON.stringify(response) : nativeDicomModel(response));
}
