// The repository behind every FHIR interaction: create, read, vread, update, delete and history
// of any mapped resource type, in the caller's tenant transaction. Routes never build SQL and
// mappings never see HTTP (STYLE.md, "a seam between protocol and storage").
//
// Writes go to the mapped tables; at commit the history trigger records the resource's rows in
// resource_versions (migrations/009). Reads render from those snapshots, so a read, a vread and
// a history entry come from the same place, and child rows cost no extra query. Reads go through
// fhir_resource_versions, which puts back the instances an ImagingStudy version showed: they
// are kept once per span of versions rather than in every snapshot (migrations/026).
//
// Mappings render with the server's own context besides the rows (ServerContext: the public base
// URL, for a resource that names the server, such as Endpoint.address).
//
// A type that lies on several tables (mapping.sources) is written to the source that accepts
// the resource; an update or delete finds the row in whichever source holds the id, and an
// update that would move it to another source is 422.
import { randomUUID } from 'node:crypto';
import { isUuid, type Transaction } from '../db/index.ts';
import { gone, notFound, preconditionFailed, unprocessable } from '../http/errors.ts';
import { sourceFor, sourcesOf, type AnyMapping, type MappingSource, type ResourceRows, type Row, type ServerContext } from './mapping.ts';
import { applyResidual, computeResidual, type Residual } from './residual.ts';

export type VersionOperation = 'create' | 'update' | 'delete';

export interface StoredVersion {
  resourceType: string;
  id: string;
  versionId: string;
  lastUpdated: string;
  operation: VersionOperation;
  /** Absent for a deletion. */
  resource?: fhir4.FhirResource;
}

export interface WriteContext {
  tenantId: string;
  /** api_clients.id of the caller, for created_by/updated_by. */
  actorId: string;
}

export interface VersionRow {
  tenant_id?: string;
  resource_type: string;
  resource_id: string;
  version_id: number;
  last_updated: Date;
  operation: VersionOperation;
  snapshot: (Row & { _children?: Record<string, Row[]>; _source?: string; fhir_residual?: Residual | null }) | null;
  seq: number;
}

export interface HistoryQuery {
  resourceType?: string;
  /** For system-level history: the types the caller may see. */
  resourceTypes?: string[];
  id?: string;
  /** Only versions recorded at or after this instant. */
  since?: string;
  /** Only versions current at some time in [start, end). */
  at?: { start: string; end: string };
  count: number;
  /** Continue after this sequence number (keyset paging, newest first). */
  before?: number;
}

/** resource_versions as reads render it: an ImagingStudy's snapshot with its instances (migrations/026). */
const VERSIONS = 'fhir_resource_versions';

const SERVER_COLUMNS = ['id', 'tenant_id', 'version_id', 'version_txid', 'last_updated', 'created_at', 'updated_at',
  'created_by', 'updated_by', 'deleted_at', 'fhir_residual'];

export class ResourceStore {
  constructor(private readonly mappings: ReadonlyMap<string, AnyMapping>, private readonly server: ServerContext) {}

  types(): string[] {
    return [...this.mappings.keys()];
  }

  mapping(resourceType: string): AnyMapping {
    const mapping = this.mappings.get(resourceType);
    if (!mapping) throw notFound(`resource type ${resourceType} is not supported by this server`);
    return mapping;
  }

  /** The current version, or undefined if the resource never existed. A deletion is returned as such. */
  async read(trx: Transaction, context: Pick<WriteContext, 'tenantId'>, resourceType: string, id: string): Promise<StoredVersion | undefined> {
    this.mapping(resourceType);
    if (!isUuid(id)) return undefined; // ids are UUIDs: any other id names nothing
    const row = await trx<VersionRow>(VERSIONS)
      .where({ tenant_id: context.tenantId, resource_type: resourceType, resource_id: id })
      .orderBy('version_id', 'desc').first();
    return row && this.render(row);
  }

  /** Like read, but a deleted or unknown resource is an error (404 or 410). */
  async readCurrent(trx: Transaction, context: Pick<WriteContext, 'tenantId'>, resourceType: string, id: string): Promise<StoredVersion> {
    const version = await this.read(trx, context, resourceType, id);
    if (!version) throw notFound(`${resourceType}/${id} is not known`);
    if (version.operation === 'delete') throw gone(`${resourceType}/${id} was deleted`);
    return version;
  }

  async vread(trx: Transaction, context: Pick<WriteContext, 'tenantId'>, resourceType: string, id: string, versionId: string): Promise<StoredVersion> {
    this.mapping(resourceType);
    const row = isUuid(id) && /^\d{1,18}$/.test(versionId)
      ? await trx<VersionRow>(VERSIONS)
        .where({ tenant_id: context.tenantId, resource_type: resourceType, resource_id: id, version_id: Number(versionId) }).first()
      : undefined;
    if (!row) throw notFound(`${resourceType}/${id} has no version ${versionId}`);
    return this.render(row);
  }

  async create(trx: Transaction, context: WriteContext, resource: fhir4.FhirResource, id: string = randomUUID(), versionId = 1): Promise<StoredVersion> {
    const mapping = this.mapping(resource.resourceType);
    const content = withoutServerFields(resource);
    const source = sourceFor(mapping, content);
    const { row, children } = mapping.toRows(content, source.table);
    await trx(source.table).insert({
      ...row, id, tenant_id: context.tenantId,
      ...(versionId > 1 ? { version_id: versionId } : {}),
      ...(source.provenance ? { created_by: context.actorId, updated_by: context.actorId } : {}),
    });
    await this.insertChildren(trx, source, context.tenantId, id, children);
    return this.finishWrite(trx, mapping, source, context.tenantId, id, resource, 'create');
  }

  /** Update, or create with the given id when there is no such resource (update as create). */
  async update(trx: Transaction, context: WriteContext, resource: fhir4.FhirResource & { id: string }, ifMatch?: string): Promise<{ version: StoredVersion; created: boolean }> {
    const mapping = this.mapping(resource.resourceType);
    await this.refuseReadOnly(trx, mapping, context.tenantId, resource.id);
    const found = await this.locate(trx, mapping, context.tenantId, resource.id);
    const current = found?.current;
    const live = current && !(found.source.softDelete && current.deleted_at);
    if (ifMatch !== undefined && (!live || String(current.version_id) !== ifMatch)) {
      throw preconditionFailed(`If-Match ${ifMatch} does not match the current version of ${resource.resourceType}/${resource.id}`);
    }
    if (!found) {
      // A resource whose row was removed (hard delete) comes back as the version after its
      // deletion: its past versions stay in the log, and the new one must not collide with them.
      const last = await trx('resource_versions').where({ tenant_id: context.tenantId, resource_type: resource.resourceType, resource_id: resource.id })
        .max({ version: 'version_id' }).first();
      return { version: await this.create(trx, context, resource, resource.id, Number(last?.version ?? 0) + 1), created: true };
    }

    const content = withoutServerFields(resource);
    const { source } = found;
    if (sourceFor(mapping, content).table !== source.table) {
      throw unprocessable(`${resource.resourceType}/${resource.id} is stored as ${source.description}; `
        + `an update cannot make it another kind of ${resource.resourceType} (create a new one instead)`, mapping.sourceElement);
    }
    const { row, children } = mapping.toRows(content, source.table);
    await trx(source.table).where({ tenant_id: context.tenantId, id: resource.id }).update({
      ...row, fhir_residual: null,
      ...(source.softDelete ? { deleted_at: null } : {}),
      ...(source.provenance ? { updated_by: context.actorId } : {}),
    });
    for (const child of source.children) {
      await trx(child.table).where({ tenant_id: context.tenantId, [child.foreignKey]: resource.id }).delete();
    }
    await this.insertChildren(trx, source, context.tenantId, resource.id, children);
    return { version: await this.finishWrite(trx, mapping, source, context.tenantId, resource.id, resource, live ? 'update' : 'create'), created: !live };
  }

  /** Deletes the resource; returns false when there was nothing to delete. */
  async delete(trx: Transaction, context: WriteContext, resourceType: string, id: string): Promise<boolean> {
    const mapping = this.mapping(resourceType);
    if (!isUuid(id)) return false;
    await this.refuseReadOnly(trx, mapping, context.tenantId, id);
    for (const source of sourcesOf(mapping).filter((candidate) => !candidate.readOnly)) {
      const target = trx(source.table).where({ tenant_id: context.tenantId, id });
      const affected = source.softDelete
        ? await target.whereNull('deleted_at').update({ deleted_at: trx.fn.now(), ...(source.provenance ? { updated_by: context.actorId } : {}) })
        : await target.delete();
      if (affected > 0) return true;
    }
    return false;
  }

  /** 422 when the id is a resource of a read-only source. */
  private async refuseReadOnly(trx: Transaction, mapping: AnyMapping, tenantId: string, id: string): Promise<void> {
    for (const source of sourcesOf(mapping).filter((candidate) => candidate.readOnly)) {
      if (await trx(mapping.table).where({ tenant_id: tenantId, id, source_table: source.table }).first('id')) {
        throw unprocessable(`${mapping.type}/${id} is ${source.description}: ${source.readOnly}`);
      }
    }
  }

  /** The source holding the row of this id, locked for update: at most one query per source. */
  private async locate(trx: Transaction, mapping: AnyMapping, tenantId: string, id: string):
    Promise<{ source: MappingSource; current: { version_id: number; deleted_at?: string | null } } | undefined> {
    for (const source of sourcesOf(mapping).filter((candidate) => !candidate.readOnly)) {
      const current = await trx(source.table).where({ tenant_id: tenantId, id })
        .first(['version_id', ...(source.softDelete ? ['deleted_at'] : [])]).forUpdate();
      if (current) return { source, current };
    }
    return undefined;
  }

  /** Versions, newest first, one more than `count` to tell whether another page follows. */
  async history(trx: Transaction, context: Pick<WriteContext, 'tenantId'>, query: HistoryQuery): Promise<{ versions: StoredVersion[]; next?: number }> {
    if (query.resourceType) this.mapping(query.resourceType);
    let versions = trx<VersionRow>(`${VERSIONS} as v`).where('v.tenant_id', context.tenantId);
    if (query.resourceType) versions = versions.where('v.resource_type', query.resourceType);
    if (query.id && !isUuid(query.id)) return { versions: [] };
    if (query.id) versions = versions.where('v.resource_id', query.id);
    if (query.resourceTypes) versions = versions.whereIn('v.resource_type', query.resourceTypes);
    if (query.since) versions = versions.where('v.last_updated', '>=', query.since);
    if (query.before !== undefined) versions = versions.where('v.seq', '<', query.before);
    if (query.at) {
      // Current at some time in the range: recorded before its end, not superseded before its start.
      const at = query.at;
      versions = versions.where('v.last_updated', '<', at.end).where((q) => q.whereNotExists((later) => later
        .select(trx.raw('1')).from('resource_versions as later')
        .whereRaw('later.tenant_id = v.tenant_id and later.resource_type = v.resource_type')
        .whereRaw('later.resource_id = v.resource_id and later.version_id > v.version_id')
        .where('later.last_updated', '<', at.start)));
    }
    const rows = await versions.orderBy('v.seq', 'desc').limit(query.count + 1);
    const page = rows.slice(0, query.count);
    return { versions: page.map((row) => this.render(row)), next: rows.length > query.count ? page.at(-1)?.seq : undefined };
  }

  private async insertChildren(trx: Transaction, source: MappingSource, tenantId: string, id: string, children: ResourceRows['children']): Promise<void> {
    for (const child of source.children) {
      const rows = children[child.table] ?? [];
      if (rows.length > 0) await trx(child.table).insert(rows.map((row) => ({ ...row, tenant_id: tenantId, [child.foreignKey]: id })));
    }
  }

  /**
   * Reads back what was written as the database holds it, keeps what the columns could not
   * express in the residual, and returns the new version as a read will render it.
   */
  private async finishWrite(trx: Transaction, mapping: AnyMapping, source: MappingSource, tenantId: string, id: string, written: fhir4.FhirResource, operation: VersionOperation): Promise<StoredVersion> {
    const snapshot = await this.snapshot(trx, mapping, source, tenantId, id);
    const writtenContent = withoutServerFields(written) as unknown as Record<string, unknown>;
    const residual = computeResidual(writtenContent, this.content(mapping, snapshot, null));
    if (residual) await trx(source.table).where({ tenant_id: tenantId, id }).update({ fhir_residual: residual });
    snapshot.fhir_residual = residual;
    return this.render({
      resource_type: mapping.type, resource_id: id, version_id: snapshot.version_id as number,
      last_updated: new Date(snapshot.last_updated as string), operation, snapshot, seq: 0,
    });
  }

  private async snapshot(trx: Transaction, mapping: AnyMapping, source: MappingSource, tenantId: string, id: string): Promise<NonNullable<VersionRow['snapshot']>> {
    const children = source.children.map((child) => `${child.table}:${child.foreignKey}`);
    const { rows } = await trx.raw<{ rows: { snapshot: VersionRow['snapshot'] }[] }>(
      'select cusp_resource_snapshot(?, ?::uuid, ?::uuid, ?::text[]) as snapshot', [source.table, tenantId, id, children]);
    const snapshot = rows[0]?.snapshot;
    if (!snapshot) throw new Error(`${mapping.type}/${id} vanished while being written`);
    return snapshot;
  }

  private content(mapping: AnyMapping, snapshot: NonNullable<VersionRow['snapshot']>, residual: Residual | null): Record<string, unknown> {
    const { _children: children = {}, _source: source, ...row } = snapshot;
    for (const column of SERVER_COLUMNS) delete row[column];
    const rendered = mapping.toResource({ row, children, ...(source ? { source } : {}) }, this.server) as unknown as Record<string, unknown>;
    return applyResidual(rendered, residual);
  }

  /** A stored version as the API shows it (also used by search, which selects the same rows). */
  render(row: VersionRow): StoredVersion {
    const versionId = String(row.version_id);
    const lastUpdated = new Date(row.last_updated).toISOString();
    const stored: StoredVersion = {
      resourceType: row.resource_type, id: row.resource_id, versionId, lastUpdated, operation: row.operation,
    };
    if (row.snapshot && row.operation !== 'delete') {
      const mapping = this.mapping(row.resource_type);
      const { meta, ...content } = this.content(mapping, row.snapshot, row.snapshot.fhir_residual ?? null) as { meta?: fhir4.Meta };
      stored.resource = {
        resourceType: row.resource_type, id: row.resource_id,
        meta: { ...meta, versionId, lastUpdated },
        ...content,
      } as fhir4.FhirResource;
    }
    return stored;
  }
}

/** The resource without id, and without the meta elements the server manages. */
function withoutServerFields(resource: fhir4.FhirResource): fhir4.FhirResource {
  const { id: _id, meta, ...content } = resource;
  if (!meta) return content as fhir4.FhirResource;
  const { versionId: _v, lastUpdated: _l, ...clientMeta } = meta;
  return (Object.keys(clientMeta).length > 0 ? { ...content, meta: clientMeta } : content) as fhir4.FhirResource;
}
