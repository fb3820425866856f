// A resource mapping declares how one FHIR resource type lies on the tables: the main table,
// the child tables whose rows belong to a resource, two pure functions between the resource
// and those rows, and the search parameters (DESIGN.md, principle 5). Adding a resource type is
// adding one module in src/fhir/mappings and its history migration.
import { isUuid } from '../db/index.ts';
import { unprocessable } from '../http/errors.ts';
import type { SearchParameterDeclaration } from './search/declarations.ts';

export type Row = Record<string, unknown>;

/** The rows of one resource; values are as the database renders them in JSON (dates as strings). */
export interface ResourceRows {
  row: Row;
  /** Child rows by child table name. */
  children: Record<string, Row[]>;
  /** The table the row was read from (the snapshot's "_source"): tells a multi-source mapping which source it is. */
  source?: string;
}

export interface ChildTable {
  table: string;
  /** The child's column that holds the resource's id. */
  foreignKey: string;
}

/** What the mapping functions see and return: the resource without id and meta (server-managed). */
export type ResourceContent<R extends fhir4.FhirResource> = Omit<R, 'id' | 'meta'>;

export type AnyMapping = ResourceMapping<fhir4.FhirResource>;

/** What rendering may need to know of the server itself rather than of the rows (e.g. Endpoint.address). */
export interface ServerContext {
  /** The external base URL of the server, without a trailing slash (https://host; /fhir and /dicomweb lie under it). */
  publicBaseUrl: string;
}

/** One table of a resource type that lies on several (e.g. Observation: vital_signs, perio_measurements). */
export interface MappingSource<R extends fhir4.FhirResource = fhir4.FhirResource> {
  table: string;
  children: ChildTable[];
  softDelete: boolean;
  provenance: boolean;
  /** What this table stores, for the 422 when no source accepts a resource ("vital signs (LOINC …)"). */
  description: string;
  /** Whether a written resource belongs in this table; exactly one source should accept it. */
  accepts(resource: ResourceContent<R>): boolean;
  /**
   * The resources of this source are not written through FHIR; why (the 422 for an update or
   * delete). Such a source accepts nothing, and `mapping.table` must list its rows (the store
   * finds them there, the table itself having no tenant_id).
   */
  readOnly?: string;
}

export interface ResourceMapping<R extends fhir4.FhirResource = fhir4.FhirResource> {
  type: R['resourceType'];
  /**
   * The table that search, _include and _revinclude read (aliased r). With `sources`, a view
   * that UNION ALLs the sources under common column names, with id, tenant_id, version_id,
   * last_updated, deleted_at (null where a source has no soft delete) and source_table; a
   * reference column must bear the sources' own column name, since _include reads it from the
   * snapshot of the source row.
   */
  table: string;
  /** The child tables written with the main row. With `sources`: [] (each source has its own). */
  children: ChildTable[];
  /**
   * Delete sets deleted_at rather than removing the row. With `sources`: whether reads through
   * the view filter deleted_at, i.e. whether any source soft-deletes (checked by defineMapping).
   */
  softDelete: boolean;
  /** The main table has created_by/updated_by (PHI tables): the store fills them with the caller. With `sources`: false (per source). */
  provenance: boolean;
  /**
   * The tables a resource of this type may lie in. Writes go to the one that accepts the
   * resource; a resource never moves from one to another; reads render the snapshot of the row
   * with `source` set to its table.
   */
  sources?: MappingSource<R>[];
  /** With `sources`: the element that decides the source, named in the 422 when none accepts. */
  sourceElement?: string;
  /**
   * Resource → rows: the main row's columns (without id, tenant_id and server columns) and the
   * child rows (without id, tenant_id and the foreign key). Throws 422 for values that have no
   * correspondence in the schema. `source` is the table the rows go to (the accepting source's).
   */
  toRows(resource: ResourceContent<R>, source: string): ResourceRows;
  /** Rows → resource. Elements the columns cannot express are restored from the residual. */
  toResource(rows: ResourceRows, server: ServerContext): ResourceContent<R>;
  search: Record<string, SearchParameterDeclaration>;
}

export function defineMapping<R extends fhir4.FhirResource>(mapping: ResourceMapping<R>): ResourceMapping<R> {
  if (mapping.sources) {
    const anySoftDelete = mapping.sources.some((source) => source.softDelete);
    if (mapping.children.length > 0 || mapping.provenance || mapping.softDelete !== anySoftDelete) {
      throw new Error(`${mapping.type}: a mapping with sources declares children [], provenance false and softDelete ${anySoftDelete}`);
    }
  }
  return mapping;
}

/** Where a mapping's rows are written: its sources, or its one table. */
export function sourcesOf<R extends fhir4.FhirResource>(mapping: ResourceMapping<R>): MappingSource<R>[] {
  return mapping.sources ?? [{
    table: mapping.table, children: mapping.children, softDelete: mapping.softDelete, provenance: mapping.provenance,
    description: mapping.type, accepts: () => true,
  }];
}

/** Every source of the type is read-only: the type is read and searched, never written, through FHIR. */
export function isReadOnly<R extends fhir4.FhirResource>(mapping: ResourceMapping<R>): boolean {
  return sourcesOf(mapping).every((source) => source.readOnly !== undefined);
}

/** The source a written resource belongs in; 422 saying what the server stores when there is none. */
export function sourceFor<R extends fhir4.FhirResource>(mapping: ResourceMapping<R>, resource: ResourceContent<R>): MappingSource<R> {
  const sources = sourcesOf(mapping);
  if (isReadOnly(mapping)) {
    throw unprocessable(`${mapping.type} is read-only through FHIR: ${sources.map((s) => `${s.description}: ${s.readOnly}`).join('; ')}`);
  }
  const source = sources.find((candidate) => !candidate.readOnly && candidate.accepts(resource));
  if (!source) {
    throw unprocessable(`${mapping.type}: this server stores ${sources.map((s) => s.description).join('; and ')}; `
      + `this ${mapping.type} is none of these`, mapping.sourceElement);
  }
  return source;
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

/**
 * A FHIR dateTime for a timestamptz column: a partial date (YYYY, YYYY-MM, YYYY-MM-DD) is
 * stored as the first instant of its first day in UTC; the residual keeps what the client wrote.
 */
export function instantOf(value: string | undefined): string | null {
  if (!value) return null;
  return value.length <= 10 ? `${calendarDate(value)}T00:00:00Z` : value;
}

/** A timestamptz as the database renders it in JSON → a FHIR dateTime in UTC, without ".000". */
export function dateTimeOf(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  return new Date(value).toISOString().replace('.000Z', 'Z');
}

const LITERAL_REFERENCE = /^([A-Z][A-Za-z]+)\/([^/]+)$/;

/** The type a relative literal reference ("Type/id") names, if it is one. */
export function referenceType(reference: fhir4.Reference | undefined): string | undefined {
  return LITERAL_REFERENCE.exec(reference?.reference ?? '')?.[1];
}

/**
 * The id that a reference column holds for a reference: only a relative literal reference
 * "Type/<uuid>" to a resource of this server can be stored; anything else is 422 naming the
 * element. Whether the target exists is the foreign key's business.
 */
export function referencedId(reference: fhir4.Reference | undefined, type: string, element: string): string | null {
  if (reference === undefined) return null;
  const match = LITERAL_REFERENCE.exec(reference.reference ?? '');
  if (!match || match[1] !== type || !isUuid(match[2])) {
    const written = reference.reference ? `"${reference.reference}"` : 'a reference without a literal "Type/id"';
    throw unprocessable(`${element}: ${written} cannot be stored; it must reference a ${type} of this server as "${type}/<id>"`, element);
  }
  return match[2]!.toLowerCase();
}

/** A reference column's value → the reference, or undefined when the column is null. */
export function referenceTo(type: string, id: unknown): fhir4.Reference | undefined {
  return typeof id === 'string' ? { reference: `${type}/${id}` } : undefined;
}

/** The first coding of `system` in one CodeableConcept or several. */
export function codingIn(concepts: fhir4.CodeableConcept | fhir4.CodeableConcept[] | undefined, system: string): fhir4.Coding | undefined {
  const list = Array.isArray(concepts) ? concepts : concepts ? [concepts] : [];
  for (const concept of list) {
    const coding = concept.coding?.find((c) => c.system === system);
    if (coding) return coding;
  }
  return undefined;
}

/** A value the schema requires (a NOT NULL column) although FHIR does not: 422 naming the element when absent. */
export function required<T>(value: T | null | undefined, element: string, why: string): T {
  if (value === undefined || value === null) throw unprocessable(`${element} is required by this server: ${why}`, element);
  return value;
}

/** The value of the first ContactPoint of `system`, or null. */
export function telecomValue(telecom: fhir4.ContactPoint[] | undefined, system: NonNullable<fhir4.ContactPoint['system']>): string | null {
  return telecom?.find((contact) => contact.system === system)?.value ?? null;
}

/** ContactPoints from contact columns, in the order given, leaving out empty columns. */
export function telecomFrom(columns: [system: NonNullable<fhir4.ContactPoint['system']>, value: unknown][]): fhir4.ContactPoint[] {
  return columns.filter(([, value]) => typeof value === 'string' && value !== '').map(([system, value]) => ({ system, value: value as string }));
}

const ADDRESS_ELEMENTS = ['use', 'type', 'text', 'line', 'city', 'district', 'state', 'postalCode', 'country', 'period'] as const;

/**
 * A JSON column holding a FHIR Address → the Address: only Address elements (the residual
 * restores anything else that was written).
 */
export function addressFromJson(value: unknown): fhir4.Address | undefined {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const json = value as Record<string, unknown>;
  return Object.fromEntries(ADDRESS_ELEMENTS.filter((key) => json[key] !== undefined).map((key) => [key, json[key]])) as fhir4.Address;
}
