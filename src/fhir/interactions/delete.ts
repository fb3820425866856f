// delete and conditional delete — https://hl7.org/fhir/R4/http.html#delete
// (deleting a deleted or unknown resource is 204 too)
import { badRequest } from '../../http/errors.ts';
import { conditionalDelete, deleteResource } from '../writes.ts';
import type { InteractionHandler } from './context.ts';

export const remove: InteractionHandler = async ({ caller, services, params, writeScope }) => {
  await services.db.tenant(caller.tenantId, (trx) => deleteResource(writeScope(trx), params.type!, params.id!));
  return { status: 204 };
};

/** DELETE [type]?[search] */
export const removeConditionally: InteractionHandler = async ({ req, caller, services, params, writeScope }) => {
  const condition = new URL(req.originalUrl, 'http://x').search.slice(1);
  if (!condition) throw badRequest('a conditional delete needs search parameters');
  await services.db.tenant(caller.tenantId, (trx) => conditionalDelete(writeScope(trx), params.type!, condition));
  return { status: 204 };
};
