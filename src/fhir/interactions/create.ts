// create — https://hl7.org/fhir/R4/http.html#create
import { badRequest } from '../../http/errors.ts';
import { resourceBody, writeResult } from '../http.ts';
import { validateResource } from '../validation.ts';
import type { InteractionHandler } from './context.ts';

export const create: InteractionHandler = async ({ req, caller, services, params, auditWrite }) => {
  const body = resourceBody(req);
  if (body.resourceType !== params.type) {
    throw badRequest(`the body is a ${String(body.resourceType)}, but the URL is for ${params.type}`, 'resourceType');
  }
  const resource = validateResource(body);
  // The server assigns the id of a created resource (http.html#create): a client id is ignored.
  const version = await services.db.tenant(caller.tenantId, async (trx) => {
    const created = await services.store.create(trx, { tenantId: caller.tenantId, actorId: caller.clientRowId }, resource);
    await auditWrite(trx, created.id);
    return created;
  });
  return writeResult(req, 201, version, services.baseUrl, `created ${version.resourceType}/${version.id}`);
};
