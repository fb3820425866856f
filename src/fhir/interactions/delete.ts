// delete — https://hl7.org/fhir/R4/http.html#delete (deleting a deleted or unknown resource is 204 too)
import type { InteractionHandler } from './context.ts';

export const remove: InteractionHandler = async ({ caller, services, params, auditWrite }) => {
  await services.db.tenant(caller.tenantId, async (trx) => {
    await services.store.delete(trx, { tenantId: caller.tenantId, actorId: caller.clientRowId }, params.type!, params.id!);
    await auditWrite(trx, params.id!);
  });
  return { status: 204 };
};
