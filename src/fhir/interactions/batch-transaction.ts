// batch and transaction — https://hl7.org/fhir/R4/http.html#transaction, bundle.html#transaction
// A transaction runs in one database transaction: entries are processed in the order the spec
// gives (DELETE, POST, PUT/PATCH, then GET), urn:uuid and conditional references are resolved,
// foreign keys are checked at commit (so entries may refer to each other in any order), and any
// failure leaves nothing behind. A batch runs each entry on its own and reports each outcome.
import { randomUUID } from 'node:crypto';
import type { Request } from 'express';
import type { Transaction } from '../../db/index.ts';
import { HttpError, badRequest, forbidden, preconditionFailed, unprocessable } from '../../http/errors.ts';
import type { Interaction } from '../../auth/scopes.ts';
import { etag, resourceBody } from '../http.ts';
import type { StoredVersion } from '../resource-store.ts';
import { executeSearch } from '../search/execute.ts';
import { matchingIds } from '../search/match.ts';
import { parseSearch } from '../search/parse.ts';
import {
  conditionalDelete, conditionalUpdate, createResource, createResourceWithId, deleteResource, patchResource, updateResource,
  type WriteScope,
} from '../writes.ts';
import type { FhirRequest, InteractionHandler } from './context.ts';

type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
const PROCESSING_ORDER: Record<Method, number> = { DELETE: 0, POST: 1, PUT: 2, PATCH: 2, GET: 3, HEAD: 3 };
const PERMISSION: Record<Method, Interaction> = { GET: 'read', HEAD: 'read', POST: 'create', PUT: 'update', PATCH: 'update', DELETE: 'delete' };
/** The CapabilityStatement interaction an entry performs, for its audit event. */
function interactionOf(entry: Entry): string {
  if (entry.method === 'GET' || entry.method === 'HEAD') return entry.id ? 'read' : 'search-type';
  return { POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete' }[entry.method];
}

interface Entry {
  index: number;
  method: Method;
  /** Resource type, id and the query of request.url. */
  type: string;
  id?: string;
  query?: string;
  fullUrl?: string;
  resource?: Record<string, unknown>;
  ifNoneExist?: string;
  ifMatch?: string;
}

interface EntryResult {
  status: string;
  location?: string;
  version?: StoredVersion;
  body?: object;
}

const STATUS_TEXT: Record<number, string> = { 200: 'OK', 201: 'Created', 204: 'No Content' };

function parseEntries(bundle: Record<string, unknown>, baseUrl: string): Entry[] {
  if (!Array.isArray(bundle.entry)) return [];
  return bundle.entry.map((raw: unknown, index): Entry => {
    const entry = (raw ?? {}) as { fullUrl?: unknown; resource?: unknown; request?: { method?: unknown; url?: unknown; ifNoneExist?: unknown; ifMatch?: unknown } };
    const where = `Bundle.entry[${index}]`;
    const method = entry.request?.method;
    if (typeof method !== 'string' || !(method in PROCESSING_ORDER)) throw badRequest(`${where}.request.method is missing or not supported`, `${where}.request.method`);
    let url = typeof entry.request?.url === 'string' ? entry.request.url : '';
    if (url.startsWith(baseUrl)) url = url.slice(baseUrl.length);
    url = url.replace(/^\/+/, '');
    const match = /^([A-Z][A-Za-z]+)(?:\/([^/?]+))?(?:\?(.*))?$/.exec(url);
    if (!match) throw badRequest(`${where}.request.url "${url}" is not [type], [type]/[id] or [type]?[query]`, `${where}.request.url`);
    const resource = entry.resource as Record<string, unknown> | undefined;
    if ((method === 'POST' || method === 'PUT' || method === 'PATCH') && (!resource || typeof resource !== 'object')) {
      throw badRequest(`${where}.resource is required for ${method}`, `${where}.resource`);
    }
    return {
      index, method: method as Method, type: match[1]!, id: match[2], query: match[3],
      fullUrl: typeof entry.fullUrl === 'string' ? entry.fullUrl : undefined,
      resource,
      ifNoneExist: typeof entry.request?.ifNoneExist === 'string' ? entry.request.ifNoneExist.replace(/^[^?]*\?/, '') : undefined,
      ifMatch: typeof entry.request?.ifMatch === 'string' ? /"([^"]+)"/.exec(entry.request.ifMatch)?.[1] : undefined,
    };
  });
}

/** Replaces every Reference.reference found in `value` (resources nest references anywhere). */
async function rewriteReferences(value: unknown, replace: (reference: string) => Promise<string>): Promise<void> {
  if (Array.isArray(value)) {
    for (const item of value) await rewriteReferences(item, replace);
  } else if (value && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    for (const [key, item] of Object.entries(record)) {
      if (key === 'reference' && typeof item === 'string') record[key] = await replace(item);
      else await rewriteReferences(item, replace);
    }
  }
}

function entryError(entry: Entry, error: unknown): never {
  if (error instanceof HttpError) {
    throw new HttpError(error.status, error.code, `Bundle.entry[${entry.index}] (${entry.method} ${entry.type}${entry.id ? `/${entry.id}` : ''}): ${error.message}`,
      error.headers, [`Bundle.entry[${entry.index}]`]);
  }
  throw error;
}

async function runEntry(request: FhirRequest, trx: Transaction, entry: Entry, assignedId: string | undefined): Promise<EntryResult> {
  const { services, caller } = request;
  const scope: WriteScope = request.writeScope(trx, { interaction: interactionOf(entry), resourceType: entry.type });
  const baseUrl = services.baseUrl;
  if (!caller.scopes.allows(entry.type, PERMISSION[entry.method])) throw forbidden(`the granted scopes do not allow ${PERMISSION[entry.method]} on ${entry.type}`);
  services.store.mapping(entry.type);
  const written = (version: StoredVersion, status: number): EntryResult => ({
    status: `${status} ${STATUS_TEXT[status]}`, version,
    location: `${baseUrl}/${version.resourceType}/${version.id}/_history/${version.versionId}`,
  });

  switch (entry.method) {
    case 'POST': {
      if (entry.resource!.resourceType !== entry.type) throw badRequest(`the resource is a ${String(entry.resource!.resourceType)}, but the URL is for ${entry.type}`);
      const outcome = assignedId ? await createResourceWithId(scope, entry.resource!, assignedId) : await createResource(scope, entry.resource!, entry.ifNoneExist);
      return written(outcome.version, outcome.status);
    }
    case 'PUT': {
      const outcome = entry.id
        ? await updateResource(scope, entry.type, entry.id, entry.resource!, entry.ifMatch)
        : await conditionalUpdate(scope, entry.type, entry.query ?? '', entry.resource!);
      return written(outcome.version, outcome.status);
    }
    case 'PATCH': {
      if (!entry.id) throw badRequest('a PATCH entry needs [type]/[id]');
      const binary = entry.resource!;
      if (binary.resourceType !== 'Binary' || binary.contentType !== 'application/json-patch+json' || typeof binary.data !== 'string') {
        throw badRequest('a PATCH entry carries a Binary with contentType application/json-patch+json (FHIRPath Patch is not supported)');
      }
      const operations = JSON.parse(Buffer.from(binary.data, 'base64').toString('utf8'));
      return written((await patchResource(scope, entry.type, entry.id, operations, entry.ifMatch)).version, 200);
    }
    case 'DELETE':
      if (entry.id) await deleteResource(scope, entry.type, entry.id);
      else await conditionalDelete(scope, entry.type, entry.query ?? '');
      return { status: '204 No Content' };
    case 'GET':
    case 'HEAD': {
      if (entry.id) {
        const version = await services.store.readCurrent(scope.trx, caller, entry.type, entry.id);
        await scope.audit(entry.id);
        return { status: '200 OK', version, body: entry.method === 'GET' ? version.resource : undefined };
      }
      const search = parseSearch(entry.type, new URLSearchParams(entry.query ?? ''), services.registry, { maxCount: 1000 });
      if (search.unknown.length > 0) throw badRequest(`unknown search parameters: ${search.unknown.map((u) => u.name).join(', ')}`);
      const page = await executeSearch(scope.trx, services.store, services.lookup, caller.tenantId, search, { count: search.count ?? 50, total: search.total ?? 'none' });
      await scope.audit('');
      return {
        status: '200 OK',
        body: {
          resourceType: 'Bundle', type: 'searchset', ...(page.total !== undefined ? { total: page.total } : {}),
          entry: page.matches.map((m) => ({ fullUrl: `${baseUrl}/${m.resourceType}/${m.id}`, resource: m.resource, search: { mode: 'match' } })),
        },
      };
    }
  }
}

function responseEntry(result: EntryResult, prefer: string | undefined) {
  const resource = result.body ?? (result.version && !/return=minimal/.test(prefer ?? '') ? result.version.resource : undefined);
  return {
    ...(result.version ? { fullUrl: `${result.location?.replace(/\/_history\/.*$/, '')}` } : {}),
    ...(resource ? { resource } : {}),
    response: {
      status: result.status,
      ...(result.location ? { location: result.location } : {}),
      ...(result.version ? { etag: etag(result.version.versionId), lastModified: result.version.lastUpdated } : {}),
    },
  };
}

async function transaction(request: FhirRequest, entries: Entry[]) {
  const { caller, services, req } = request;
  const results = await services.db.tenant(caller.tenantId, async (trx: Transaction) => {
    await trx.raw('set constraints all deferred');
    const scope = request.writeScope(trx, { interaction: 'transaction', resourceType: 'Bundle' });

    // Ids for the resources this transaction creates, so references to their urn:uuid resolve.
    const assigned = new Map<string, string>(); // entry index → id
    const byFullUrl = new Map<string, string>(); // fullUrl → Type/id
    for (const entry of entries) {
      if (entry.method === 'POST' && !entry.ifNoneExist) {
        const id = randomUUID();
        assigned.set(String(entry.index), id);
        if (entry.fullUrl) byFullUrl.set(entry.fullUrl, `${entry.type}/${id}`);
      } else if (entry.method === 'PUT' && entry.id && entry.fullUrl) {
        byFullUrl.set(entry.fullUrl, `${entry.type}/${entry.id}`);
      }
    }
    // The spec's order; among the POSTs the conditional creates first, so references to them
    // resolve to what they found or made.
    const ordered = [...entries].sort((a, b) => PROCESSING_ORDER[a.method] - PROCESSING_ORDER[b.method]
      || Number(!a.ifNoneExist) - Number(!b.ifNoneExist) || a.index - b.index);

    const resolve = async (reference: string): Promise<string> => {
      if (reference.startsWith('urn:uuid:') || reference.startsWith('urn:oid:')) {
        const target = byFullUrl.get(reference);
        if (!target) throw unprocessable(`${reference} names no entry of this transaction`);
        return target;
      }
      const conditional = /^([A-Z][A-Za-z]+)\?(.+)$/.exec(reference);
      if (!conditional) return byFullUrl.get(reference) ?? reference;
      const ids = await matchingIds(scope, conditional[1]!, conditional[2]!);
      if (ids.length === 0) throw unprocessable(`the conditional reference ${reference} matches nothing`);
      if (ids.length > 1) throw preconditionFailed(`the conditional reference ${reference} matches more than one resource`);
      return `${conditional[1]}/${ids[0]}`;
    };

    const results = new Map<number, EntryResult>();
    let writesSettled = false;
    for (const entry of ordered) {
      if (!writesSettled && (entry.method === 'GET' || entry.method === 'HEAD')) {
        // Reads come after every write: run the deferred checks and version snapshots now, so
        // the reads see what this transaction wrote.
        await trx.raw('set constraints all immediate');
        writesSettled = true;
      }
      try {
        if (entry.resource) await rewriteReferences(entry.resource, resolve);
        const result = await runEntry(request, trx, entry, assigned.get(String(entry.index)));
        results.set(entry.index, result);
        if (entry.method === 'POST' && entry.fullUrl && result.version && !byFullUrl.has(entry.fullUrl)) {
          byFullUrl.set(entry.fullUrl, `${entry.type}/${result.version.id}`);
        }
      } catch (error) {
        entryError(entry, error);
      }
    }
    return results;
  }).catch((error: { code?: string; constraint?: string }) => {
    // Deferred foreign keys are checked at commit.
    if (error.code === '23503') throw unprocessable(`a reference names a resource that does not exist here (${error.constraint ?? 'foreign key'}); nothing was written`);
    throw error;
  });
  return {
    resourceType: 'Bundle', type: 'transaction-response',
    entry: entries.map((entry) => responseEntry(results.get(entry.index)!, req.get('prefer'))),
  };
}

async function batch(request: FhirRequest, entries: Entry[]) {
  const { caller, services, req } = request;
  const responses = [];
  for (const entry of entries) {
    try {
      if (entry.resource && JSON.stringify(entry.resource).includes('"urn:uuid:')) {
        throw badRequest('entries of a batch cannot refer to each other (urn:uuid); use a transaction');
      }
      const result = await services.db.tenant(caller.tenantId, (trx) => runEntry(request, trx, entry, undefined));
      responses.push(responseEntry(result, req.get('prefer')));
    } catch (error) {
      const status = error instanceof HttpError ? error.status : 500;
      if (status === 500) services.logger.error({ err: error, reqId: req.requestId, entry: entry.index }, 'batch entry failed');
      responses.push({
        response: {
          status: String(status),
          outcome: {
            resourceType: 'OperationOutcome',
            issue: [{ severity: 'error', code: error instanceof HttpError ? error.code : 'exception', diagnostics: error instanceof HttpError ? error.message : 'internal error' }],
          },
        },
      });
    }
  }
  return { resourceType: 'Bundle', type: 'batch-response', entry: responses };
}

export const batchOrTransaction: InteractionHandler = async (request) => {
  const { req, services } = request;
  const bundle = resourceBody(req as Request);
  if (bundle.resourceType !== 'Bundle') throw badRequest('POST to the base takes a Bundle of type batch or transaction', 'resourceType');
  if (bundle.type !== 'transaction' && bundle.type !== 'batch') throw badRequest('Bundle.type must be batch or transaction', 'Bundle.type');
  const entries = parseEntries(bundle, services.baseUrl);
  const body = bundle.type === 'transaction' ? await transaction(request, entries) : await batch(request, entries);
  return { status: 200, body };
};
