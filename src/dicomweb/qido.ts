// QIDO-RS (PS3.18 10.6): search for studies, series and instances.
import { Router } from 'express';
import type { DicomwebServices } from './context.ts';

export function qidoRoutes(_services: DicomwebServices): Router {
  return Router();
}
