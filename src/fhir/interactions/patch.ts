// patch with JSON Patch — https://hl7.org/fhir/R4/http.html#patch
// (FHIRPath Patch is not supported: the CapabilityStatement and README say so.)
import { unsupportedMediaType } from '../../http/errors.ts';
import { ifMatchVersion, writeResult } from '../http.ts';
import { patchResource } from '../writes.ts';
import type { InteractionHandler } from './context.ts';

export const patch: InteractionHandler = async ({ req, caller, services, params, writeScope }) => {
  if (!req.is('application/json-patch+json')) {
    throw unsupportedMediaType('PATCH takes a JSON Patch document (application/json-patch+json); FHIRPath Patch is not supported');
  }
  const ifMatch = ifMatchVersion(req);
  const { version, status } = await services.db.tenant(caller.tenantId, (trx) =>
    patchResource(writeScope(trx), params.type!, params.id!, req.body, ifMatch));
  return writeResult(req, status, version, services.baseUrl, `patched ${version.resourceType}/${version.id}`);
};
