// WADO-RS (PS3.18 10.4): retrieve instances, metadata, frames and bulk data.
import { Router } from 'express';
import type { DicomwebServices } from './context.ts';

export function wadoRoutes(_services: DicomwebServices): Router {
  return Router();
}
