// /dicomweb (DICOM PS3.18): every request needs a Bearer token whose scopes cover ImagingStudy —
// read for QIDO-RS and WADO-RS, create for STOW-RS, delete for DELETE. Browser viewers on other
// origins are served (CORS), preflight and error answers included.
import { Router, type Request, type RequestHandler } from 'express';
import { requireScope } from '../auth/middleware.ts';
import type { Interaction } from '../auth/scopes.ts';
import { notFound } from '../http/errors.ts';
import type { DicomwebServices } from './context.ts';
import { cors } from './cors.ts';
import { deleteRoutes } from './delete.ts';
import { qidoRoutes } from './qido.ts';
import { renderedRoutes } from './rendered.ts';
import { stowRoutes } from './stow.ts';
import { wadoRoutes } from './wado.ts';

const INTERACTION_OF_METHOD: Record<string, Interaction> = { GET: 'read', HEAD: 'read', POST: 'create', PUT: 'update', DELETE: 'delete' };
const interactionOf = (req: Request): Interaction => INTERACTION_OF_METHOD[req.method] ?? 'read';

export function dicomwebRouter(options: { authenticate: RequestHandler; services: DicomwebServices }): Router {
  const router = Router();
  router.use(cors);
  // Every answer is negotiated on Accept (RFC 9110 12.5.5): caches are to keep one per media type.
  router.use((_req, res, next) => {
    res.vary('Accept');
    next();
  });
  router.use(options.authenticate);
  router.use(requireScope('ImagingStudy', interactionOf));
  router.use(stowRoutes(options.services));
  router.use(qidoRoutes(options.services));
  router.use(wadoRoutes(options.services));
  router.use(renderedRoutes(options.services));
  router.use(deleteRoutes(options.services));
  router.use((req) => {
    throw notFound(`no DICOMweb service at ${req.method} ${req.path}`);
  });
  return router;
}
