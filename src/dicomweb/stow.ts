// STOW-RS (PS3.18 10.5): POST /studies and /studies/{study} with a multipart/related body of
// application/dicom parts. Each part is spooled, parsed once and stored as it arrives; the answer
// lists what was stored and what failed, with the PS3.7 failure reason of each failure.
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
import { FailureReason, InstanceParseError, parseInstanceFile } from '../dicom/index.ts';
import { HttpError } from '../http/errors.ts';
import { acceptedMediaRanges, expectDicomJsonAccepted, DICOM_JSON_MEDIA_TYPE } from './accept.ts';
import { imagingCaller, type DicomwebServices } from './context.ts';
import type { IngestCaller } from './ingest.ts';
import { DICOM_MEDIA_TYPE, readMultipartRelated, type MultipartPart } from './multipart.ts';
import { uidParam } from './params.ts';
import { storeResponse, storeResponseStatus, type FailedReference, type StoredReference } from './store-response.ts';

type PartOutcome =
  | { stored: StoredReference }
  | { failed: FailedReference; message: string };

/** How many failure messages are repeated as Warning header fields. */
const MAX_WARNINGS = 10;

export function stowRoutes(services: DicomwebServices): Router {
  const router = Router();
  router.post(['/studies', '/studies/:study'], async (req, res) => {
    const studyInUrl = req.params.study === undefined ? undefined : uidParam(req, 'study');
    expectDicomJsonAccepted(acceptedMediaRanges(req), 'the Store Instances Response');
    const caller = imagingCaller(req);
    const outcomes: PartOutcome[] = [];
    try {
      const parts = readMultipartRelated(req, req.get('content-type'), { tempDir: services.tempDir, maxPartBytes: services.maxInstanceBytes });
      for await (const part of parts) {
        const outcome = await storePart(services, caller, part, studyInUrl);
        if ('failed' in outcome) await auditFailure(services, caller, part, outcome);
        outcomes.push(outcome);
      }
    } catch (error) {
      if (!(error instanceof HttpError) || !outcomes.some((outcome) => 'stored' in outcome)) throw error;
      outcomes.push({ failed: { failureReason: FailureReason.CannotUnderstand }, message: `the rest of the body could not be read: ${error.message}` });
    }
    if (outcomes.length === 0) throw new HttpError(400, 'invalid', 'the multipart body has no part');
    answer(services, res, outcomes);
  });
  return router;
}

async function storePart(services: DicomwebServices, caller: IngestCaller, part: MultipartPart, studyInUrl: string | undefined): Promise<PartOutcome> {
  if (part.mediaType !== DICOM_MEDIA_TYPE) {
    return { failed: { failureReason: FailureReason.CannotUnderstand }, message: `part ${part.number} is ${part.mediaType}, not ${DICOM_MEDIA_TYPE}` };
  }
  let instance;
  try {
    instance = await parseInstanceFile(part.path);
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

function answer(services: DicomwebServices, res: Response, outcomes: PartOutcome[]): void {
  const stored = outcomes.flatMap((outcome) => ('stored' in outcome ? [outcome.stored] : []));
  const failed = outcomes.flatMap((outcome) => ('failed' in outcome ? [outcome] : []));
  const warnings = failed.slice(0, MAX_WARNINGS).map((outcome) => `299 cusp "${outcome.message.replace(/["\\\r\n]/g, ' ')}"`);
  if (warnings.length > 0) res.set('Warning', warnings);
  res.status(storeResponseStatus(stored.length, failed.length)).type(DICOM_JSON_MEDIA_TYPE)
    .send(JSON.stringify(storeResponse(services.baseUrl, stored, failed.map((outcome) => outcome.failed))));
}
