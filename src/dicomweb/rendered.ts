// Rendered resources (PS3.18 10.4.1.1.3, 10.4.1.1.4: rendered and thumbnail) and WADO-URI (PS3.18 9).
import { Router } from 'express';
import type { DicomwebServices } from './context.ts';

export function renderedRoutes(_services: DicomwebServices): Router {
  return Router();
}
