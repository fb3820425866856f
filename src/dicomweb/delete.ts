// DELETE of a study, a series or an instance (not part of PS3.18, which leaves removal to
// Imaging Object Change Management; offered as PACS and Orthanc do, for ImagingStudy.delete scopes).
//
// One tenant transaction, under the study's advisory lock (the one ingest takes, so a store of
// the same study waits), removes the rows, brings the counts of what remains up to date, removes
// a series or study left without instances, and audits the deletion. The blobs are removed after
// the commit: a blob that outlives its row is garbage for the sweep (sweep.ts), never a row without its blob.
import { Router } from 'express';
import type { Transaction } from '../db/index.ts';
import { readerIn, runIn } from '../db/statements.ts';
import { conflict } from '../http/errors.ts';
import { imagingCaller, type DicomwebServices } from './context.ts';
import { locateInstances } from './locate.ts';
import { resourcePath, type ResourcePath } from './params.ts';
import { lockStudies, refreshStudyAggregates } from './study-aggregates.ts';

export function deleteRoutes(services: DicomwebServices): Router {
  const router = Router();
  router.delete(['/studies/:study', '/studies/:study/series/:series', '/studies/:study/series/:series/instances/:instance'], async (req, res) => {
    const path = resourcePath(req);
    const caller = imagingCaller(req);
    const storageKeys = await services.db.tenant(caller.tenantId, async (trx) => {
      await runIn(trx, lockStudies(caller.tenantId, [path.study]));
      const instances = await locateInstances(readerIn(trx), path);
      const { studyId } = instances[0]!;
      let keys: string[];
      try {
        keys = await removeRows(trx, caller.tenantId, studyId, path);
      } catch (error) {
        if ((error as { code?: string }).code !== '23503') throw error;
        throw conflict(`the ${path.instance ? 'instance' : path.series ? 'series' : 'study'} is still referenced (${(error as { table?: string }).table ?? 'another table'}, e.g. AI predictions); remove those first`);
      }
      await services.audit.recordInTransaction(trx, {
        ...caller.audit, tenantId: caller.tenantId, eventType: 'DICOM_DELETE', resourceType: 'ImagingStudy', resourceId: studyId, outcome: 'SUCCESS',
        metadata: { path: req.originalUrl, instances: instances.length },
      });
      return keys;
    });
    for (const key of storageKeys) {
      await services.blobs.delete(key).catch((error: unknown) => services.logger.warn({ err: error, key }, 'a deleted instance\'s blob stays until `cusp sweep`'));
    }
    res.status(204).end();
  });
  return router;
}

/** Deletes the objects under `path` (stored or still being stored) and what they leave empty; returns their blob keys. */
async function removeRows(trx: Transaction, tenantId: string, studyId: string, path: ResourcePath): Promise<string[]> {
  const objects = trx('imaging_objects as o').where({ 'o.tenant_id': tenantId, 'o.study_id': studyId });
  if (path.series) {
    objects.whereIn('o.series_id', trx('imaging_series').select('id').where({ tenant_id: tenantId, study_id: studyId, series_uid: path.series }));
  }
  if (path.instance) objects.where('o.sop_instance_uid', path.instance);
  const removed = (await objects.delete().returning('storage_uri')) as { storage_uri: string | null }[];

  await trx.raw(`update imaging_series se set number_of_instances =
      (select count(*) from imaging_objects o where o.tenant_id = se.tenant_id and o.series_id = se.id and o.status = 'CREATED')
    where se.tenant_id = ? and se.study_id = ?`, [tenantId, studyId]);
  await trx('imaging_series').where({ tenant_id: tenantId, study_id: studyId }).whereNotExists(
    trx('imaging_objects as o').whereRaw('o.tenant_id = imaging_series.tenant_id and o.series_id = imaging_series.id'),
  ).delete();
  const remaining = await trx('imaging_objects').where({ tenant_id: tenantId, study_id: studyId }).first('id');
  if (remaining) {
    await runIn(trx, refreshStudyAggregates(tenantId, [studyId]));
  } else {
    await trx('imaging_studies').where({ tenant_id: tenantId, id: studyId }).delete();
  }
  return removed.flatMap((row) => (row.storage_uri ? [row.storage_uri] : []));
}
