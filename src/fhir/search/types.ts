// The typed shape of a parsed FHIR search request, consumed by the SQL compiler (https://hl7.org/fhir/R4/search.html).

export type SearchParamType = 'string' | 'token' | 'date' | 'reference' | 'number' | 'quantity' | 'uri' | 'special';

/** Comparison prefixes for number, date and quantity values (search.html#prefix). */
export type Prefix = 'eq' | 'ne' | 'gt' | 'lt' | 'ge' | 'le' | 'sa' | 'eb' | 'ap';

export interface SearchParamDefinition {
  name: string;
  type: SearchParamType;
  /** Reference target types; undefined means any resource type. */
  targets?: string[];
}

/** Lookup of the search parameters a resource type supports (including common ones like _id, _lastUpdated the caller passes in). */
export type ParamRegistry = (resourceType: string) => ReadonlyMap<string, SearchParamDefinition> | undefined;

/** ISO-8601 UTC instants; start inclusive, end exclusive. */
export interface DateRange {
  start: string;
  end: string;
}

export type SearchValue =
  | { type: 'string'; value: string }
  /**
   * system undefined = any system; system '' = explicitly no system ("|code").
   * With the :of-type modifier (identifier only, "system|code|value"), system and code are those of
   * Identifier.type and `value` holds the Identifier.value to match; `value` is unset otherwise.
   */
  | { type: 'token'; system?: string; code?: string; value?: string }
  /** range = the implicit range of the given value at its precision. */
  | { type: 'date'; prefix: Prefix; range: DateRange }
  /** Implicit range [low, high) from the significant figures of the value as written. */
  | { type: 'number'; prefix: Prefix; value: number; range: { low: number; high: number } }
  | { type: 'quantity'; prefix: Prefix; value: number; range: { low: number; high: number }; system?: string; code?: string }
  /** url is the value as given when it was absolute; resourceType/id/version are parsed from it when recognisable. */
  | { type: 'reference'; resourceType?: string; id?: string; url?: string; version?: string }
  /** reference:identifier; system '' = explicitly no system. */
  | { type: 'identifier'; system?: string; value?: string }
  | { type: 'uri'; value: string }
  | { type: 'missing'; missing: boolean };

/** subject:Patient.name=... */
export interface Chain {
  parameter: string;
  targetType: string;
  next: SearchCriterion;
}

export interface SearchCriterion {
  name: string;
  definition: SearchParamDefinition;
  /** 'exact','contains','missing','not','text','of-type','identifier', or a resource type for reference[:Type]. */
  modifier?: string;
  /** OR'ed (comma separated). Empty when `chain` or `has` is set. */
  values: SearchValue[];
  /** Set instead of values for chained parameters. */
  chain?: Chain;
  /**
   * Set instead of values for a nested _has (`_has:A:p:_has:B:q:param=...`): the criterion is then
   * named '_has' with a synthetic definition of type 'special'.
   */
  has?: HasCriterion;
}

/** _has:Observation:patient:code=... */
export interface HasCriterion {
  targetType: string;
  referenceParam: string;
  criterion: SearchCriterion;
}

export interface IncludeSpec {
  sourceType: string;
  /** The reference parameter, or '*' for the wildcard. */
  parameter: string;
  targetType?: string;
  iterate: boolean;
  wildcard?: boolean;
}

export interface SortKey {
  name: string;
  definition: SearchParamDefinition;
  descending: boolean;
}

export interface ParsedSearch {
  resourceType: string;
  /** AND'ed (repeated parameters). */
  criteria: SearchCriterion[];
  has: HasCriterion[];
  sort: SortKey[];
  count?: number;
  total?: 'none' | 'estimate' | 'accurate';
  summary?: 'true' | 'text' | 'data' | 'count' | 'false';
  elements?: string[];
  include: IncludeSpec[];
  revinclude: IncludeSpec[];
  /** Opaque paging token passed through (_cursor). */
  cursor?: string;
  /** _format passed through. */
  format?: string;
  /** _pretty. */
  pretty?: boolean;
  /** Parameters that were not understood, each with why; the caller decides (strict → 400, lenient → ignore and report). */
  unknown: { name: string; reason: string }[];
}

/** A malformed value of a known parameter → always 400. */
export class SearchError extends Error {
  constructor(
    message: string,
    readonly parameter?: string,
  ) {
    super(message);
    this.name = 'SearchError';
  }
}
