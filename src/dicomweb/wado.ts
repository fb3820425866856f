// WADO-RS (PS3.18 10.4): retrieve instances, metadata, frames and bulk data.
import { Router } from 'express';
import type { DicomwebServices } from './context.ts';
import { retrieveBulkData } from './wado-bulkdata.ts';
import { retrieveFrames } from './wado-frames.ts';
import { retrieveMetadata } from './wado-metadata.ts';
import { retrieveInstances } from './wado-retrieve.ts';

const STUDY = '/studies/:study';
const SERIES = `${STUDY}/series/:series`;
const INSTANCE = `${SERIES}/instances/:instance`;

export function wadoRoutes(services: DicomwebServices): Router {
  const router = Router();
  for (const resource of [STUDY, SERIES, INSTANCE]) {
    router.get(resource, retrieveInstances(services));
    router.get(`${resource}/metadata`, retrieveMetadata(services));
  }
  router.get(`${INSTANCE}/frames/:frames`, retrieveFrames(services));
  router.get(`${INSTANCE}/bulkdata/*reference`, retrieveBulkData(services));
  return router;
}
