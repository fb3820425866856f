// What every DICOMweb service is given, and who the caller of a request is to the imaging code.
import type { Request } from 'express';
import type { AuditLog } from '../audit/index.ts';
import type { BlobStore } from '../blob/index.ts';
import type { Database } from '../db/index.ts';
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
}

/** The tenant and the audit fields of an authenticated request. */
export function imagingCaller(req: Request): IngestCaller {
  const { tenantId } = requireCaller(req);
  const { tenantId: _tenant, ...audit } = auditSource(req);
  return { tenantId, audit };
}
