// What interrupted stores and deletions leave behind (ingest.ts, delete.ts), removed once older
// than `olderThanMinutes` — no store spends that long between receiving an instance and
// completing it, and one that does finds its row gone and fails the instance:
// - objects still CREATING whose registration is older, with the blob each names;
// - blobs under the tenant's prefix that no object names and that were last written before the
//   limit: written by a store whose registration a crash undid, abandoned by a store that was
//   taken over, or left by a DELETE that could not remove them. A store writes its blob while
//   it registers the row, so a younger blob may be one whose row is about to be committed; a
//   limit of 0 is for a server that stores nothing meanwhile.
// The tenant's blob keys and the keys its objects name are held in memory while it runs. A removed
// object's DICOM JSON is patient data: each removal is audited (DICOM_DELETE) in its transaction.
import type { AuditLog } from '../audit/index.ts';
import type { BlobStore } from '../blob/index.ts';
import type { Database } from '../db/index.ts';
import type { IngestCaller } from './ingest.ts';

export interface SweepResult {
  /** CREATING objects removed, with their blobs. */
  abandonedObjects: number;
  /** Blobs removed that no object named. */
  unnamedBlobs: number;
}

export interface SweepServices {
  db: Database;
  blobs: BlobStore;
  audit: AuditLog;
}

/** `actor`: who sweeps, as the audit records it. */
export async function sweepImaging({ db, blobs, audit }: SweepServices, tenantId: string, olderThanMinutes: number, actor: IngestCaller['audit']): Promise<SweepResult> {
  const abandoned = await db.tenant(tenantId, async (trx) => {
    const removed = await trx('imaging_objects')
      .where({ tenant_id: tenantId, status: 'CREATING' })
      .whereRaw('updated_at <= now() - make_interval(mins => ?)', [olderThanMinutes])
      .delete()
      .returning(['study_id', 'sop_instance_uid', 'storage_uri']) as { study_id: string; sop_instance_uid: string; storage_uri: string | null }[];
    await audit.recordInTransaction(trx, removed.map((object) => ({
      ...actor, tenantId, eventType: 'DICOM_DELETE', resourceType: 'ImagingStudy', resourceId: object.study_id, outcome: 'SUCCESS' as const,
      metadata: { sweep: 'an instance whose store did not complete', sopInstanceUid: object.sop_instance_uid },
    })));
    return removed;
  });
  for (const { storage_uri: key } of abandoned) if (key) await blobs.delete(key);

  const limit = Date.now() - olderThanMinutes * 60_000;
  const listed: string[] = [];
  for await (const { key, lastModified } of blobs.list(`dicom/${tenantId}/`)) if (lastModified.getTime() <= limit) listed.push(key);
  const named = new Set((await db.tenant(tenantId, (trx) => trx('imaging_objects').where({ tenant_id: tenantId })
    .whereNotNull('storage_uri').pluck('storage_uri')) as string[]));
  const unnamed = listed.filter((key) => !named.has(key));
  for (const key of unnamed) await blobs.delete(key);
  return { abandonedObjects: abandoned.length, unnamedBlobs: unnamed.length };
}
