// read — https://hl7.org/fhir/R4/http.html#read (with conditional read: If-None-Match, If-Modified-Since,
// and _summary / _elements as in search.html#summary and #elements)
import type { Request } from 'express';
import { badRequest } from '../../http/errors.ts';
import { etag, versionHeaders } from '../http.ts';
import type { StoredVersion } from '../resource-store.ts';
import type { ParamRegistry } from '../search/types.ts';
import { subset, type Subsetting } from '../summary.ts';
import type { InteractionHandler } from './context.ts';
import { parsedSearch, searchParameters } from './search.ts';

const SUBSETTING_PARAMETERS = new Set(['_summary', '_elements']);

function notModified(req: Request, version: StoredVersion): boolean {
  const ifNoneMatch = req.get('if-none-match');
  if (ifNoneMatch !== undefined) return ifNoneMatch.split(',').some((tag) => tag.trim() === etag(version.versionId) || tag.trim() === `"${version.versionId}"`);
  const ifModifiedSince = req.get('if-modified-since');
  if (ifModifiedSince === undefined) return false;
  const since = Date.parse(ifModifiedSince);
  // HTTP dates have one-second precision.
  return !Number.isNaN(since) && Math.floor(Date.parse(version.lastUpdated) / 1000) * 1000 <= since;
}

/** The _summary and _elements of the request, parsed as a search parses them; other parameters play no part in a read. */
function requestedSubsetting(req: Request, type: string, registry: ParamRegistry): Subsetting {
  const parameters = new URLSearchParams([...searchParameters(req)].filter(([name]) => SUBSETTING_PARAMETERS.has(name)));
  if (parameters.size === 0) return {}; // a plain read: nothing to parse
  const { summary, elements } = parsedSearch(type, parameters, registry);
  if (summary === 'count') throw badRequest('_summary=count applies to a search, not to a read', '_summary');
  return { summary, elements };
}

export const read: InteractionHandler = async ({ req, caller, services, params }) => {
  const version = await services.db.tenant(caller.tenantId, (trx) => services.store.readCurrent(trx, caller, params.type!, params.id!));
  const { Location: _location, ...headers } = versionHeaders(version, services.baseUrl);
  if (notModified(req, version)) return { status: 304, headers };
  const subsetting = requestedSubsetting(req, version.resourceType, services.registry);
  return { status: 200, headers, body: subset(version.resource as unknown as Record<string, unknown>, subsetting) };
};
