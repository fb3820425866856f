// update (and update as create) — https://hl7.org/fhir/R4/http.html#update
import { isUuid } from '../../db/index.ts';
import { badRequest } from '../../http/errors.ts';
import { ifMatchVersion, resourceBody, writeResult } from '../http.ts';
import { validateResource } from '../validation.ts';
import type { InteractionHandler } from './context.ts';

export const update: InteractionHandler = async ({ req, caller, services, params, auditWrite }) => {
  const body = resourceBody(req);
  if (body.resourceType !== params.type) {
    throw badRequest(`the body is a ${String(body.resourceType)}, but the URL is for ${params.type}`, 'resourceType');
  }
  if (body.id === undefined) throw badRequest('an updated resource must carry its id', `${params.type}.id`);
  if (body.id !== params.id) throw badRequest(`the body's id ${String(body.id)} is not the id in the URL, ${params.id}`, `${params.type}.id`);
  // Ids are UUIDs: the tables key resources by uuid, so update as create accepts only those.
  if (!isUuid(params.id)) throw badRequest(`${params.id} is not a valid id here: ids are UUIDs`, `${params.type}.id`);
  const resource = validateResource(body) as ReturnType<typeof validateResource> & { id: string };
  const ifMatch = ifMatchVersion(req);
  const { version, created } = await services.db.tenant(caller.tenantId, async (trx) => {
    const written = await services.store.update(trx, { tenantId: caller.tenantId, actorId: caller.clientRowId }, resource, ifMatch);
    await auditWrite(trx, params.id!);
    return written;
  });
  return writeResult(req, created ? 201 : 200, version, services.baseUrl, `${created ? 'created' : 'updated'} ${version.resourceType}/${version.id}`);
};
