// The write interactions as operations on one tenant transaction, shared by the HTTP handlers
// and by batch/transaction bundle entries: create (and conditional create), update (and
// conditional update, update as create), patch (JSON Patch) and delete (and conditional delete).
// https://hl7.org/fhir/R4/http.html
import jsonpatch from 'fast-json-patch';
import { isUuid, type Transaction } from '../db/index.ts';
import { HttpError, badRequest, conflict, preconditionFailed, unprocessable } from '../http/errors.ts';
import type { ResourceStore, StoredVersion } from './resource-store.ts';
import { canonicalCondition, matchingIds, type MatchContext } from './search/match.ts';
import { validateResource } from './validation.ts';

export interface WriteScope extends MatchContext {
  actorId: string;
  /** Audits the write in its transaction. */
  audit(resourceId: string): Promise<void>;
}

export interface WriteOutcome {
  version: StoredVersion;
  /** 201 for a new resource, 200 otherwise. */
  status: 200 | 201;
}

const context = (scope: WriteScope) => ({ tenantId: scope.tenantId, actorId: scope.actorId });

/**
 * Identical conditional writes take the same transaction-scoped advisory lock before they
 * search, so twenty concurrent identical conditional creates make exactly one resource: the
 * database serialises them, and each later one finds what the first committed.
 */
async function lockCondition(trx: Transaction, tenantId: string, resourceType: string, condition: string): Promise<void> {
  await trx.raw('select pg_advisory_xact_lock(hashtextextended(?, 0))', [`${tenantId}|${resourceType}|${canonicalCondition(condition)}`]);
}

/** A foreign key that fails is a reference to something that is not there (in this tenant). */
async function translateDatabaseErrors<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === '23503') throw unprocessable(`a reference names a resource that does not exist here (${(error as { constraint?: string }).constraint ?? 'foreign key'})`);
    if (code === '23505') throw new HttpError(409, 'duplicate', 'the resource duplicates a business key of another resource');
    if (code === '23514' || code === '22P02' || code === '22007' || code === '22008') {
      throw unprocessable(`a value does not fit the schema: ${(error as Error).message}`);
    }
    throw error;
  }
}

export async function createResource(scope: WriteScope, body: Record<string, unknown>, ifNoneExist?: string): Promise<WriteOutcome> {
  const resource = validateResource(body);
  if (ifNoneExist !== undefined) {
    await lockCondition(scope.trx, scope.tenantId, resource.resourceType, ifNoneExist);
    const matches = await matchingIds(scope, resource.resourceType, ifNoneExist);
    if (matches.length > 1) throw preconditionFailed(`If-None-Exist ${ifNoneExist} matches more than one ${resource.resourceType}`);
    if (matches.length === 1) return { version: await scope.store.readCurrent(scope.trx, scope, resource.resourceType, matches[0]!), status: 200 };
  }
  // The server assigns the id of a created resource (http.html#create): a client id is ignored.
  const version = await translateDatabaseErrors(() => scope.store.create(scope.trx, context(scope), resource));
  await scope.audit(version.id);
  return { version, status: 201 };
}

/** Creates under an id chosen beforehand (transaction entries whose urn:uuid was resolved to it). */
export async function createResourceWithId(scope: WriteScope, body: Record<string, unknown>, id: string): Promise<WriteOutcome> {
  const resource = validateResource(body);
  const version = await translateDatabaseErrors(() => scope.store.create(scope.trx, context(scope), resource, id));
  await scope.audit(version.id);
  return { version, status: 201 };
}

export async function updateResource(scope: WriteScope, resourceType: string, id: string, body: Record<string, unknown>, ifMatch?: string): Promise<WriteOutcome> {
  if (body.resourceType !== resourceType) throw badRequest(`the body is a ${String(body.resourceType)}, but the URL is for ${resourceType}`, 'resourceType');
  if (body.id === undefined) throw badRequest('an updated resource must carry its id', `${resourceType}.id`);
  if (body.id !== id) throw badRequest(`the body's id ${String(body.id)} is not the id in the URL, ${id}`, `${resourceType}.id`);
  // Ids are UUIDs: the tables key resources by uuid, so update as create accepts only those.
  if (!isUuid(id)) throw badRequest(`${id} is not a valid id here: ids are UUIDs`, `${resourceType}.id`);
  const resource = validateResource(body) as fhir4.FhirResource & { id: string };
  const { version, created } = await translateDatabaseErrors(() => scope.store.update(scope.trx, context(scope), resource, ifMatch));
  await scope.audit(id);
  return { version, status: created ? 201 : 200 };
}

/** PUT [type]?[search]: no match creates, one match updates it, several are 412 (http.html#cond-update). */
export async function conditionalUpdate(scope: WriteScope, resourceType: string, condition: string, body: Record<string, unknown>): Promise<WriteOutcome> {
  await lockCondition(scope.trx, scope.tenantId, resourceType, condition);
  const matches = await matchingIds(scope, resourceType, condition);
  if (matches.length > 1) throw preconditionFailed(`${condition} matches more than one ${resourceType}`);
  if (matches.length === 0) {
    if (body.id !== undefined && isUuid(body.id)) return updateResource(scope, resourceType, body.id as string, body);
    if (body.resourceType !== resourceType) throw badRequest(`the body is a ${String(body.resourceType)}, but the URL is for ${resourceType}`, 'resourceType');
    const { id: _ignored, ...withoutId } = body;
    return createResource(scope, withoutId);
  }
  const id = matches[0]!;
  if (body.id !== undefined && body.id !== id) throw badRequest(`the body's id ${String(body.id)} is not the id of the match, ${id}`, `${resourceType}.id`);
  return updateResource(scope, resourceType, id, { ...body, id });
}

/** PATCH with a JSON Patch document (RFC 6902), applied to the current version. */
export async function patchResource(scope: WriteScope, resourceType: string, id: string, patch: unknown, ifMatch?: string): Promise<WriteOutcome> {
  if (!Array.isArray(patch)) throw badRequest('a JSON Patch document is an array of operations');
  const current = await scope.store.readCurrent(scope.trx, scope, resourceType, id);
  if (ifMatch !== undefined && ifMatch !== current.versionId) {
    throw preconditionFailed(`If-Match ${ifMatch} does not match the current version of ${resourceType}/${id}`);
  }
  const operationError = jsonpatch.validate(patch as jsonpatch.Operation[], current.resource);
  if (operationError) {
    const message = `JSON Patch: ${operationError.message.split('\n')[0]}`;
    // A well-formed patch whose test fails, or whose path is not there, cannot be processed (422).
    if (['TEST_OPERATION_FAILED', 'OPERATION_PATH_UNRESOLVABLE', 'OPERATION_FROM_UNRESOLVABLE'].includes(operationError.name)) throw unprocessable(message);
    throw badRequest(message);
  }
  let patched: Record<string, unknown>;
  try {
    patched = jsonpatch.applyPatch(structuredClone(current.resource), patch as jsonpatch.Operation[], false, false).newDocument as unknown as Record<string, unknown>;
  } catch (error) {
    throw unprocessable(`JSON Patch could not be applied: ${(error as Error).message.split('\n')[0]}`);
  }
  if (patched.id !== id || patched.resourceType !== resourceType) throw unprocessable('a patch may not change the resource type or id');
  return updateResource(scope, resourceType, id, patched, current.versionId);
}

export async function deleteResource(scope: WriteScope, resourceType: string, id: string): Promise<void> {
  try {
    // A savepoint, so that a refusal leaves an enclosing transaction bundle usable for its report.
    await scope.trx.transaction((inner) => scope.store.delete(inner, context(scope), resourceType, id));
  } catch (error) {
    if ((error as { code?: string }).code === '23503') {
      throw conflict(`${resourceType}/${id} is still referenced by other resources (${(error as { table?: string }).table ?? 'another table'}); delete or change those first`);
    }
    throw error;
  }
  await scope.audit(id);
}

/** DELETE [type]?[search]: deletes the one match; several are 412 (conditionalDelete: single). */
export async function conditionalDelete(scope: WriteScope, resourceType: string, condition: string): Promise<void> {
  await lockCondition(scope.trx, scope.tenantId, resourceType, condition);
  const matches = await matchingIds(scope, resourceType, condition);
  if (matches.length > 1) throw preconditionFailed(`${condition} matches more than one ${resourceType}`);
  if (matches.length === 1) await deleteResource(scope, resourceType, matches[0]!);
}
