// /dicomweb (DICOM PS3.18): every request needs a Bearer token whose scopes cover ImagingStudy —
// read for QIDO-RS and WADO-RS, create for STOW-RS, delete for DELETE.
import { Router, type Request, type RequestHandler } from 'express';
import { requireScope } from '../auth/middleware.ts';
import type { Interaction } from '../auth/scopes.ts';
import { notFound } from '../http/errors.ts';

const INTERACTION_OF_METHOD: Record<string, Interaction> = { GET: 'read', HEAD: 'read', POST: 'create', PUT: 'update', DELETE: 'delete' };
const interactionOf = (req: Request): Interaction => INTERACTION_OF_METHOD[req.method] ?? 'read';

export function dicomwebRouter(options: { authenticate: RequestHandler }): Router {
  const router = Router();
  router.use(options.authenticate);
  router.use(requireScope('ImagingStudy', interactionOf));
  router.use((req) => {
    throw notFound(`no DICOMweb service at ${req.path}`);
  });
  return router;
}
