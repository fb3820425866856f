// create, and conditional create (If-None-Exist) — https://hl7.org/fhir/R4/http.html#create
import { badRequest } from '../../http/errors.ts';
import { resourceBody, writeResult } from '../http.ts';
import { createResource } from '../writes.ts';
import type { InteractionHandler } from './context.ts';

export const create: InteractionHandler = async ({ req, caller, services, params, writeScope }) => {
  const body = resourceBody(req);
  if (body.resourceType !== params.type) {
    throw badRequest(`the body is a ${String(body.resourceType)}, but the URL is for ${params.type}`, 'resourceType');
  }
  const ifNoneExist = req.get('if-none-exist')?.replace(/^[^?]*\?/, '');
  const { version, status } = await services.db.tenant(caller.tenantId, (trx) => createResource(writeScope(trx), body, ifNoneExist));
  return writeResult(req, status, version, services.baseUrl, status === 201 ? `created ${version.resourceType}/${version.id}` : `${version.resourceType}/${version.id} already matches ${ifNoneExist}`);
};
