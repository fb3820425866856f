// STOW-RS (PS3.18 10.5): POST /studies and /studies/{study}.
import { Router } from 'express';
import type { DicomwebServices } from './context.ts';

export function stowRoutes(_services: DicomwebServices): Router {
  return Router();
}
