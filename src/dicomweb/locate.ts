// The stored instances a WADO-RS / DELETE resource path names: one indexed query, CREATED objects
// only (an object still being stored is not there yet), in study, series and instance order.
import type { Reader } from '../db/statements.ts';
import type { DicomJsonDataSet, Frame, BulkDataLocation } from '../dicom/index.ts';
import type { PixelDescription } from '../dicom/transcode-codecs.ts';
import { notFound } from '../http/errors.ts';
import type { ResourcePath } from './params.ts';

export interface StoredInstance {
  objectId: string;
  studyId: string;
  seriesId: string;
  studyUid: string;
  seriesUid: string;
  sopInstanceUid: string;
  sopClassUid: string;
  transferSyntaxUid: string;
  /** The blob key of the file as received. */
  storageKey: string;
  byteSize: number;
  rows: number | null;
  columns: number | null;
  numberOfFrames: number | null;
  frames: Frame[] | null;
  bulkData: BulkDataLocation[] | null;
}

export interface LocateOptions {
  /** Also load each instance's DICOM JSON (with BulkDataURI placeholders). */
  withMetadata?: boolean;
  /** Also load the Image Pixel Module attributes that decoding and encoding frames need. */
  withPixelDescription?: boolean;
}

export type StoredInstanceWithMetadata = StoredInstance & { metadata: DicomJsonDataSet };
export type StoredInstanceWithPixels = StoredInstance & {
  /** Undefined when the instance has no Rows, Columns, Bits Allocated or Photometric Interpretation. */
  pixelDescription: PixelDescription | undefined;
};

const COLUMNS: Record<string, string> = {
  objectId: 'o.id', studyId: 'o.study_id', seriesId: 'o.series_id', studyUid: 'st.study_uid', seriesUid: 'se.series_uid',
  sopInstanceUid: 'o.sop_instance_uid', sopClassUid: 'o.sop_class_uid', transferSyntaxUid: 'o.transfer_syntax_uid',
  storageKey: 'o.storage_uri', byteSize: 'o.byte_size', rows: 'o.height', columns: 'o.width',
  numberOfFrames: 'o.number_of_frames', frames: 'o.frame_offsets', bulkData: 'o.bulk_data',
};

/** Image Pixel Module attributes, read out of the stored DICOM JSON (first values, as text). */
const PIXEL_ATTRIBUTES = {
  samplesPerPixel: '00280002', photometricInterpretation: '00280004', planarConfiguration: '00280006',
  bitsAllocated: '00280100', bitsStored: '00280101', highBit: '00280102', pixelRepresentation: '00280103',
};
type PixelColumns = { [name in keyof typeof PIXEL_ATTRIBUTES]: string | null };

/** The instances under `path` (404 when there are none), with their metadata or pixel description when asked. */
export async function locateInstances(read: Reader, path: ResourcePath, options: { withMetadata: true }): Promise<StoredInstanceWithMetadata[]>;
export async function locateInstances(read: Reader, path: ResourcePath, options: { withPixelDescription: true }): Promise<StoredInstanceWithPixels[]>;
export async function locateInstances(read: Reader, path: ResourcePath, options?: LocateOptions): Promise<StoredInstance[]>;
export async function locateInstances(read: Reader, path: ResourcePath, options: LocateOptions = {}): Promise<StoredInstance[]> {
  const sql = locateSql(Boolean(path.series), Boolean(path.instance), options);
  const values = [path.study, ...(path.series ? [path.series] : []), ...(path.instance ? [path.instance] : [])];
  const rows = await read<StoredInstance & Partial<PixelColumns>>((q) => q.raw(sql, values), sql);
  if (rows.length === 0) throw notFound(`no stored ${describe(path)}`);
  return rows.map((row) => {
    const instance = { ...row, byteSize: Number(row.byteSize) };
    if (!options.withPixelDescription) return instance;
    const { samplesPerPixel, photometricInterpretation, planarConfiguration, bitsAllocated, bitsStored, highBit, pixelRepresentation, ...rest } = instance;
    return { ...rest, pixelDescription: pixelDescriptionOf(row as StoredInstance & PixelColumns) };
  });
}

const locateSqls = new Map<string, string>();

/**
 * The statement of one kind of path and options, written once: it runs for every retrieval, and
 * building it with knex's query builder each time cost more of the event loop than its round trip.
 * Row-level security keeps the caller's tenant; the condition on it reaches the indexes.
 */
function locateSql(bySeries: boolean, byInstance: boolean, options: LocateOptions): string {
  const key = `${bySeries} ${byInstance} ${Boolean(options.withMetadata)} ${Boolean(options.withPixelDescription)}`;
  let sql = locateSqls.get(key);
  if (sql === undefined) {
    const columns = [
      ...Object.entries(COLUMNS).map(([name, column]) => `${column} as "${name}"`),
      ...(options.withMetadata ? ['o.dicom_json as "metadata"'] : []),
      ...(options.withPixelDescription ? Object.entries(PIXEL_ATTRIBUTES).map(([name, tag]) => `o.dicom_json #>> '{${tag},Value,0}' as "${name}"`) : []),
    ];
    sql = `select ${columns.join(', ')}
      from imaging_objects o
      join imaging_series se on se.tenant_id = o.tenant_id and se.id = o.series_id
      join imaging_studies st on st.tenant_id = o.tenant_id and st.id = o.study_id
      where o.tenant_id = cusp_tenant_id() and o.status = 'CREATED' and st.study_uid = ?${bySeries ? ' and se.series_uid = ?' : ''}${byInstance ? ' and o.sop_instance_uid = ?' : ''}
      order by se.series_number nulls last, se.series_uid, o.instance_number nulls last, o.sop_instance_uid`;
    locateSqls.set(key, sql);
  }
  return sql;
}

function pixelDescriptionOf(row: StoredInstance & PixelColumns): PixelDescription | undefined {
  const number = (value: string | null) => (value === null || value === '' || Number.isNaN(Number(value)) ? undefined : Number(value));
  const bitsAllocated = number(row.bitsAllocated);
  if (!row.rows || !row.columns || !bitsAllocated || !row.photometricInterpretation) return undefined;
  const bitsStored = number(row.bitsStored) ?? bitsAllocated;
  return {
    rows: row.rows, columns: row.columns, bitsAllocated, bitsStored,
    samplesPerPixel: number(row.samplesPerPixel) ?? 1,
    highBit: number(row.highBit) ?? bitsStored - 1,
    pixelRepresentation: number(row.pixelRepresentation) ?? 0,
    planarConfiguration: number(row.planarConfiguration),
    photometricInterpretation: row.photometricInterpretation,
    numberOfFrames: row.numberOfFrames ?? 1,
  };
}

function describe(path: ResourcePath): string {
  if (path.instance) return `instance ${path.instance} in series ${path.series} of study ${path.study}`;
  if (path.series) return `series ${path.series} in study ${path.study}`;
  return `study ${path.study}`;
}
