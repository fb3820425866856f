// Conditional interactions find their target by a search (http.html#cond-update): this runs a
// search string within the caller's transaction and returns the ids of the matches.
import type { Transaction } from '../../db/index.ts';
import { badRequest } from '../../http/errors.ts';
import type { ResourceStore } from '../resource-store.ts';
import { UnsupportedSearch, compileCriterion, type MappingLookup } from './compile.ts';
import { executeSearch } from './execute.ts';
import { parseSearch } from './parse.ts';
import { SearchError, type ParamRegistry } from './types.ts';

export interface MatchContext {
  trx: Transaction;
  store: ResourceStore;
  lookup: MappingLookup;
  registry: ParamRegistry;
  tenantId: string;
}

/** Up to `limit` ids matching `query` (e.g. "identifier=urn:mrn|123"). Unknown parameters are 400: a typo must not match everything. */
export async function matchingIds(context: MatchContext, resourceType: string, query: string, limit = 2): Promise<string[]> {
  const parameters = new URLSearchParams(query);
  if ([...parameters.keys()].length === 0) throw badRequest(`the condition on ${resourceType} is empty`);
  let search;
  try {
    search = parseSearch(resourceType, parameters, context.registry);
  } catch (error) {
    if (error instanceof SearchError) throw badRequest(`condition ${query}: ${error.message}`, error.parameter);
    throw error;
  }
  if (search.unknown.length > 0) throw badRequest(`condition ${query}: ${search.unknown.map((u) => `${u.name} (${u.reason})`).join(', ')}`);
  const mapping = context.store.mapping(resourceType);
  for (const criterion of search.criteria) {
    try {
      compileCriterion('r', mapping, criterion, context.lookup);
    } catch (error) {
      if (error instanceof UnsupportedSearch) throw badRequest(`condition ${query}: ${error.message}`, error.parameter);
      throw error;
    }
  }
  const page = await executeSearch(context.trx, context.store, context.lookup, context.tenantId, { ...search, sort: [] }, { count: limit, total: 'none' });
  return page.matches.map((match) => match.id);
}

/** The condition in a canonical form, so equivalent spellings serialise on the same lock. */
export function canonicalCondition(query: string): string {
  const parameters = [...new URLSearchParams(query)].filter(([name]) => !name.startsWith('_format') && name !== '_pretty');
  return parameters.map(([name, value]) => `${name}=${value}`).sort().join('&');
}
