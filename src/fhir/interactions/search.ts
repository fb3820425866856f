// search — https://hl7.org/fhir/R4/http.html#search and https://hl7.org/fhir/R4/search.html
// GET [type]?… and POST [type]/_search. Unknown or unsupported parameters are 400 unless the
// client asks for Prefer: handling=lenient, in which case they are ignored and reported in an
// OperationOutcome entry; the self link shows the parameters actually applied.
import type { Request } from 'express';
import { HttpError, badRequest, type Issue } from '../../http/errors.ts';
import { decodeCursor, encodeCursor } from '../cursor.ts';
import type { AnyMapping } from '../mapping.ts';
import { UnsupportedSearch, compileCriterion, declarationsOf, hasCriterion, type MappingLookup } from '../search/compile.ts';
import { executeSearch } from '../search/execute.ts';
import { resolveIncludes } from '../search/include.ts';
import { parseSearch } from '../search/parse.ts';
import { SearchError, type ParamRegistry, type ParsedSearch, type SearchCriterion, type SearchParamDefinition } from '../search/types.ts';
import { subset } from '../summary.ts';
import type { InteractionHandler } from './context.ts';

const DEFAULT_COUNT = 50;
const MAX_COUNT = 1000;

/** The search parameters of every served type, as the parser needs them. */
export function parameterRegistry(lookup: MappingLookup): ParamRegistry {
  const cache = new Map<string, ReadonlyMap<string, SearchParamDefinition>>();
  return (resourceType) => {
    const mapping = lookup(resourceType);
    if (!mapping) return undefined;
    let parameters = cache.get(resourceType);
    if (!parameters) {
      parameters = new Map(Object.entries(declarationsOf(mapping)).map(([name, declaration]) => [name, {
        name, type: declaration.type, targets: declaration.type === 'reference' ? declaration.targets : undefined,
      }]));
      cache.set(resourceType, parameters);
    }
    return parameters;
  };
}

/** The query's parameters, and for POST _search the form's. */
export function searchParameters(req: Request): URLSearchParams {
  const parameters = new URLSearchParams();
  const add = (source: Record<string, unknown>) => {
    for (const [name, value] of Object.entries(source)) {
      for (const item of Array.isArray(value) ? value : [value]) if (typeof item === 'string') parameters.append(name, item);
    }
  };
  add(req.query as Record<string, unknown>);
  if (req.method === 'POST') {
    if (!req.is('application/x-www-form-urlencoded') && req.get('content-length') !== '0' && req.get('content-type')) {
      throw badRequest('POST _search takes application/x-www-form-urlencoded parameters');
    }
    add((req.body ?? {}) as Record<string, unknown>);
  }
  return parameters;
}

/** The parsed search; a malformed value of a known parameter is 400. */
export function parsedSearch(type: string, parameters: URLSearchParams, registry: ParamRegistry): ParsedSearch {
  try {
    return parseSearch(type, parameters, registry, { maxCount: MAX_COUNT });
  } catch (error) {
    if (error instanceof SearchError) throw badRequest(error.message, error.parameter);
    throw error;
  }
}

const lenient = (req: Request) => /(?:^|[,;\s])handling=lenient/.test(req.get('prefer') ?? '');

/** Moves criteria and result parameters this server cannot honour into `unknown`. */
function dropUnsupported(search: ParsedSearch, mapping: AnyMapping, lookup: MappingLookup): void {
  const supported = (criterion: SearchCriterion): boolean => {
    try {
      compileCriterion('r', mapping, criterion, lookup);
      return true;
    } catch (error) {
      if (!(error instanceof UnsupportedSearch)) throw error;
      search.unknown.push({ name: criterion.name, reason: error.message });
      return false;
    }
  };
  search.criteria = search.criteria.filter(supported);
  search.has = search.has.filter((has) => supported(hasCriterion(has)));
}

function appliedParameters(parameters: URLSearchParams, search: ParsedSearch): URLSearchParams {
  const ignored = new Set(search.unknown.map((u) => u.name));
  const applied = new URLSearchParams();
  for (const [name, value] of parameters) {
    if (value === '' || name === '_cursor' || ignored.has(name) || ignored.has(name.split(/[:.]/)[0]!)) continue;
    applied.append(name, value);
  }
  return applied;
}

export const searchType: InteractionHandler = async ({ req, caller, services, params }) => {
  const type = params.type!;
  const { lookup } = services;
  const parameters = searchParameters(req);
  const search = parsedSearch(type, parameters, services.registry);
  dropUnsupported(search, services.store.mapping(type), lookup);
  if (search.unknown.length > 0 && !lenient(req)) {
    const issues: Issue[] = search.unknown.map((u) => ({ severity: 'error', code: 'not-supported', diagnostics: `${u.name}: ${u.reason}`, expression: [u.name] }));
    throw new HttpError(400, 'not-supported', issues[0]!.diagnostics, {}, issues[0]!.expression, issues);
  }

  const cursor = search.cursor === undefined ? undefined : decodeCursor<(string | null)[]>(caller.clientRowId, search.cursor);
  const count = search.summary === 'count' ? 0 : search.count ?? DEFAULT_COUNT;
  const totalMode = search.summary === 'count' ? 'accurate' : search.total ?? 'none';
  const { page, includes } = await services.db.tenant(caller.tenantId, async (trx) => {
    const page = await executeSearch(trx, services.store, lookup, caller.tenantId, search, { count, cursor, total: totalMode });
    const includes = search.include.length + search.revinclude.length === 0 ? { included: [], warnings: [] } : await resolveIncludes(
      { trx, store: services.store, lookup, tenantId: caller.tenantId, mayRead: (t) => caller.scopes.allows(t, 'read') },
      page.matches.map((version, i) => ({ version, snapshot: page.snapshots[i]! })), search.include, search.revinclude);
    return { page, includes };
  });

  const applied = appliedParameters(parameters, search);
  const selfUrl = `${services.baseUrl}/${type}${applied.size ? `?${applied}` : ''}`;
  const link = [{ relation: 'self', url: selfUrl }];
  if (page.next) {
    const next = new URLSearchParams(applied);
    next.set('_cursor', encodeCursor(caller.clientRowId, page.next));
    link.push({ relation: 'next', url: `${services.baseUrl}/${type}?${next}` });
  }
  const entry: object[] = page.matches.map((match) => ({
    fullUrl: `${services.baseUrl}/${type}/${match.id}`,
    resource: subset(match.resource as unknown as Record<string, unknown>, search),
    search: { mode: 'match' },
  }));
  for (const included of includes.included) {
    entry.push({
      fullUrl: `${services.baseUrl}/${included.resourceType}/${included.id}`,
      resource: subset(included.resource as unknown as Record<string, unknown>, search),
      search: { mode: 'include' },
    });
  }
  const issues = [
    ...search.unknown.map((u) => ({ severity: 'warning', code: 'not-supported', diagnostics: `ignored ${u.name}: ${u.reason}` })),
    ...includes.warnings.map((w) => ({ severity: 'warning', code: 'incomplete', diagnostics: w })),
  ];
  if (issues.length > 0) entry.push({ resource: { resourceType: 'OperationOutcome', issue: issues }, search: { mode: 'outcome' } });
  return {
    status: 200,
    body: { resourceType: 'Bundle', type: 'searchset', ...(page.total !== undefined ? { total: page.total } : {}), link, entry },
  };
};
