// vread — https://hl7.org/fhir/R4/http.html#vread
import { gone } from '../../http/errors.ts';
import { versionHeaders } from '../http.ts';
import type { InteractionHandler } from './context.ts';

export const vread: InteractionHandler = async ({ caller, services, params }) => {
  const version = await services.db.tenant(caller.tenantId, (trx) => services.store.vread(trx, caller, params.type!, params.id!, params.vid!));
  if (!version.resource) throw gone(`version ${version.versionId} of ${params.type}/${params.id} is its deletion`);
  const { Location: _location, ...headers } = versionHeaders(version, services.baseUrl);
  return { status: 200, headers, body: version.resource };
};
