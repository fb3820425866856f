// update, update as create, and conditional update — https://hl7.org/fhir/R4/http.html#update
import { badRequest } from '../../http/errors.ts';
import { ifMatchVersion, resourceBody, writeResult } from '../http.ts';
import { conditionalUpdate, updateResource } from '../writes.ts';
import type { InteractionHandler } from './context.ts';

export const update: InteractionHandler = async ({ req, caller, services, params, writeScope }) => {
  const body = resourceBody(req);
  const ifMatch = ifMatchVersion(req);
  const { version, status } = await services.db.tenant(caller.tenantId, (trx) =>
    updateResource(writeScope(trx), params.type!, params.id!, body, ifMatch));
  return writeResult(req, status, version, services.baseUrl, `${status === 201 ? 'created' : 'updated'} ${version.resourceType}/${version.id}`);
};

/** PUT [type]?[search] */
export const updateConditionally: InteractionHandler = async ({ req, caller, services, params, writeScope }) => {
  const condition = new URL(req.originalUrl, 'http://x').search.slice(1);
  if (!condition) throw badRequest('a conditional update needs search parameters');
  const body = resourceBody(req);
  const { version, status } = await services.db.tenant(caller.tenantId, (trx) =>
    conditionalUpdate(writeScope(trx), params.type!, condition, body));
  return writeResult(req, status, version, services.baseUrl, `${status === 201 ? 'created' : 'updated'} ${version.resourceType}/${version.id}`);
};
