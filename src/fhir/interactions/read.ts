// read — https://hl7.org/fhir/R4/http.html#read (with conditional read: If-None-Match, If-Modified-Since)
import type { Request } from 'express';
import { etag, versionHeaders } from '../http.ts';
import type { StoredVersion } from '../resource-store.ts';
import type { InteractionHandler } from './context.ts';

function notModified(req: Request, version: StoredVersion): boolean {
  const ifNoneMatch = req.get('if-none-match');
  if (ifNoneMatch !== undefined) return ifNoneMatch.split(',').some((tag) => tag.trim() === etag(version.versionId) || tag.trim() === `"${version.versionId}"`);
  const ifModifiedSince = req.get('if-modified-since');
  if (ifModifiedSince === undefined) return false;
  const since = Date.parse(ifModifiedSince);
  // HTTP dates have one-second precision.
  return !Number.isNaN(since) && Math.floor(Date.parse(version.lastUpdated) / 1000) * 1000 <= since;
}

export const read: InteractionHandler = async ({ req, caller, services, params }) => {
  const version = await services.db.tenant(caller.tenantId, (trx) => services.store.readCurrent(trx, caller, params.type!, params.id!));
  const { Location: _location, ...headers } = versionHeaders(version, services.baseUrl);
  if (notModified(req, version)) return { status: 304, headers };
  return { status: 200, headers, body: version.resource };
};
