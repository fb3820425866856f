// A resource mapping declares how one FHIR resource type lies on the tables: the main table,
// the child tables whose rows belong to a resource, two pure functions between the resource
// and those rows, and the search parameters (DESIGN.md, principle 5). Adding a resource type is
// adding one module in src/fhir/mappings and its history migration.
import type { SearchParameterDeclaration } from './search/declarations.ts';

export type Row = Record<string, unknown>;

/** The rows of one resource; values are as the database renders them in JSON (dates as strings). */
export interface ResourceRows {
  row: Row;
  /** Child rows by child table name. */
  children: Record<string, Row[]>;
}

export interface ChildTable {
  table: string;
  /** The child's column that holds the resource's id. */
  foreignKey: string;
}

/** What the mapping functions see and return: the resource without id and meta (server-managed). */
export type ResourceContent<R extends fhir4.FhirResource> = Omit<R, 'id' | 'meta'>;

export type AnyMapping = ResourceMapping<fhir4.FhirResource>;

export interface ResourceMapping<R extends fhir4.FhirResource = fhir4.FhirResource> {
  type: R['resourceType'];
  table: string;
  children: ChildTable[];
  /** Delete sets deleted_at rather than removing the row. */
  softDelete: boolean;
  /** The main table has created_by/updated_by (PHI tables): the store fills them with the caller. */
  provenance: boolean;
  /**
   * Resource → rows: the main row's columns (without id, tenant_id and server columns) and the
   * child rows (without id, tenant_id and the foreign key). Throws 422 for values that have no
   * correspondence in the schema.
   */
  toRows(resource: ResourceContent<R>): ResourceRows;
  /** Rows → resource. Elements the columns cannot express are restored from the residual. */
  toResource(rows: ResourceRows): ResourceContent<R>;
  search: Record<string, SearchParameterDeclaration>;
}

export function defineMapping<R extends fhir4.FhirResource>(mapping: ResourceMapping<R>): ResourceMapping<R> {
  return mapping;
}

/** Removes undefined properties and empty arrays/objects, so rendered resources carry no empty elements. */
export function compact<T>(value: T): T {
  if (Array.isArray(value)) {
    return value.map(compact).filter((item) => item !== undefined && !isEmpty(item)) as T;
  }
  if (value && typeof value === 'object') {
    const result: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      const compacted = compact(item);
      if (compacted !== undefined && compacted !== null && !isEmpty(compacted)) result[key] = compacted;
    }
    return result as T;
  }
  return value;
}

function isEmpty(value: unknown): boolean {
  if (Array.isArray(value)) return value.length === 0;
  return typeof value === 'object' && value !== null && Object.keys(value).length === 0;
}

/**
 * A FHIR date (YYYY, YYYY-MM or YYYY-MM-DD) for a date column: a partial date is stored as its
 * first day; the residual keeps the precision the client wrote.
 */
export function calendarDate(value: string | undefined): string | null {
  if (!value) return null;
  const [year, month = '01', day = '01'] = value.slice(0, 10).split('-');
  return `${year}-${month}-${day}`;
}
