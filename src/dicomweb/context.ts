// What every DICOMweb service is given, and who the caller of a request is to the imaging code.
import type { Request } from 'express';
import type { AuditLog } from '../audit/index.ts';
import type { BlobStore } from '../blob/index.ts';
import type { Database } from '../db/index.ts';
import type { Reader } from '../db/statements.ts';
import { auditSource, requireCaller } from '../http/context.ts';
import type { Logger } from '../observability/logger.ts';
import type { IngestCaller, InstanceIngest } from './ingest.ts';

export interface DicomwebServices {
  db: Database;
  blobs: BlobStore;
  audit: AuditLog;
  logger: Logger;
  ingest: InstanceIngest;
  /** The public URL of the DICOMweb service (PUBLIC_BASE_URL + /dicomweb): RetrieveURL and BulkDataURI start with it. */
  baseUrl: string;
  /** Where STOW-RS spools the parts of a request body. */
  tempDir: string;
  /** STOW-RS refuses a larger part with 413. */
  maxInstanceBytes: number;
}

/** The tenant and the audit fields of an authenticated request. */
export function imagingCaller(req: Request): IngestCaller {
  const { tenantId } = requireCaller(req);
  const { tenantId: _tenant, ...audit } = auditSource(req);
  return { tenantId, audit };
}

/** Reads in the caller's tenant, each a transaction of its own (src/db/statements.ts). */
export function callerReader(services: Pick<DicomwebServices, 'db'>, req: Request): Reader {
  return services.db.reader(requireCaller(req).tenantId);
}

export type ImagingEventType = 'DICOM_QUERY' | 'DICOM_RETRIEVE' | 'DICOM_STORE' | 'DICOM_DELETE';

/**
 * Records a read of imaging data (QIDO-RS, WADO-RS, rendered) durably, before its answer leaves.
 * `studyIds` are imaging_studies ids (the ImagingStudy resource ids); `metadata` says what was asked.
 */
export async function auditImagingRead(
  services: Pick<DicomwebServices, 'audit'>, req: Request, eventType: ImagingEventType, studyIds: string[], metadata: Record<string, unknown> = {},
): Promise<void> {
  const caller = imagingCaller(req);
  await services.audit.record({
    ...caller.audit, tenantId: caller.tenantId, eventType, resourceType: 'ImagingStudy', outcome: 'SUCCESS',
    ...(studyIds.length === 1 ? { resourceId: studyIds[0] } : {}),
    metadata: { path: req.originalUrl, ...(studyIds.length > 1 ? { studies: studyIds } : {}), ...metadata },
  });
}
