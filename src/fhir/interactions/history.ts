// history at instance, type and system level — https://hl7.org/fhir/R4/http.html#history
// (_since, _at, _count), newest first, paged by a keyset cursor on the change log.
import type { Request } from 'express';
import { badRequest } from '../../http/errors.ts';
import { decodeCursor, encodeCursor } from '../cursor.ts';
import { etag } from '../http.ts';
import type { HistoryQuery, StoredVersion } from '../resource-store.ts';
import { InvalidDateError, parseDateRange } from '../search/dates.ts';
import type { FhirRequest, InteractionHandler } from './context.ts';

const DEFAULT_COUNT = 50;
const MAX_COUNT = 1000;
const HISTORY_PARAMETERS = new Set(['_since', '_at', '_count', '_cursor', '_format', '_pretty']);

function single(req: Request, name: string): string | undefined {
  const value = req.query[name];
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string') throw badRequest(`${name} may be given once`, name);
  return value;
}

function dateRange(req: Request, name: string) {
  const value = single(req, name);
  if (value === undefined) return undefined;
  try {
    return parseDateRange(value);
  } catch (error) {
    if (error instanceof InvalidDateError) throw badRequest(`${name}: ${error.message}`, name);
    throw error;
  }
}

function historyQuery(request: FhirRequest, scope: Pick<HistoryQuery, 'resourceType' | 'resourceTypes' | 'id'>): HistoryQuery {
  const { req, caller } = request;
  for (const name of Object.keys(req.query)) {
    if (!HISTORY_PARAMETERS.has(name)) throw badRequest(`${name} is not a parameter of history`, name);
  }
  const countText = single(req, '_count');
  if (countText !== undefined && !/^\d+$/.test(countText)) throw badRequest('_count must be a non-negative integer', '_count');
  const cursor = single(req, '_cursor');
  return {
    ...scope,
    since: dateRange(req, '_since')?.start,
    at: dateRange(req, '_at'),
    count: Math.min(countText === undefined ? DEFAULT_COUNT : Number(countText), MAX_COUNT),
    before: cursor === undefined ? undefined : decodeCursor<number>(caller.clientRowId, cursor),
  };
}

function entry(baseUrl: string, version: StoredVersion) {
  const url = `${version.resourceType}/${version.id}`;
  const [method, status] = version.operation === 'create' ? ['POST', '201 Created']
    : version.operation === 'update' ? ['PUT', '200 OK'] : ['DELETE', '204 No Content'];
  return {
    fullUrl: `${baseUrl}/${url}`,
    ...(version.resource ? { resource: version.resource } : {}),
    request: { method, url: method === 'POST' ? version.resourceType : url },
    response: { status, etag: etag(version.versionId), lastModified: version.lastUpdated },
  };
}

async function history(request: FhirRequest, scope: Pick<HistoryQuery, 'resourceType' | 'resourceTypes' | 'id'>, path: string) {
  const { caller, services, req } = request;
  const query = historyQuery(request, scope);
  const { versions, next } = await services.db.tenant(caller.tenantId, (trx) => services.store.history(trx, caller, query));
  const selfParams = new URLSearchParams(req.query as Record<string, string>);
  const link = [{ relation: 'self', url: `${services.baseUrl}${path}${selfParams.size ? `?${selfParams}` : ''}` }];
  if (next !== undefined) {
    selfParams.set('_cursor', encodeCursor(caller.clientRowId, next));
    link.push({ relation: 'next', url: `${services.baseUrl}${path}?${selfParams}` });
  }
  return { status: 200, body: { resourceType: 'Bundle', type: 'history', link, entry: versions.map((v) => entry(services.baseUrl, v)) } };
}

export const historyInstance: InteractionHandler = (request) =>
  history(request, { resourceType: request.params.type, id: request.params.id }, `/${request.params.type}/${request.params.id}/_history`);

export const historyType: InteractionHandler = (request) =>
  history(request, { resourceType: request.params.type }, `/${request.params.type}/_history`);

/** System history shows the types the caller's scopes let it search. */
export const historySystem: InteractionHandler = (request) => history(request, {
  resourceTypes: request.services.store.types().filter((type) => request.caller.scopes.allows(type, 'search')),
}, '/_history');
