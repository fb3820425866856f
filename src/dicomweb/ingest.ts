// Storing received DICOM instances (STOW-RS, and C-STORE later): the rows and the bytes at the
// same time, then the rows say the bytes are there.
//
// 1. Register: a tenant transaction links the patient, finds or creates the study and series, and
//    records the object as CREATING with its attributes, DICOM JSON, frame index and the opaque
//    key (UIDs can carry patient data) its blob is to have; an instance of a series already stored
//    and linked is inserted with the lookup of what is stored, in one round trip. Its commit does
//    not wait for the disk: a crash that undoes it loses nothing acknowledged, and step 3's commit
//    flushes it.
// 2. Meanwhile the bytes (held in memory, or the spooled file) go to the blob store under that
//    key; the store makes them durable before it returns. A refused or already stored instance's
//    blob is removed again.
// 3. Complete, once both are done: a durable transaction marks the object CREATED (if it still
//    names that blob), counts it into its series and study, and audits the write.
//
// Steps 1 and 3 are group-committed per tenant: instances being stored at the same time (the
// parts of a STOW-RS request, concurrent requests) share their transactions, take each study's
// lock once, and make one ImagingStudy version per study and batch rather than per instance.
// Queries and retrieval see CREATED objects only, so a crash at any point leaves nothing
// half-made visible. A CREATING row names the blob it waited for: the next store of the same
// instance takes the row over and removes that blob. Left to the sweep (sweep.ts, `cusp sweep`):
// CREATING rows no store retries, and blobs no row names (a crash undid their registration).
// In one process, stores of one SOP instance run one at a time; of two processes storing it at
// once, the later registration takes the row over and the earlier store fails (0x0110). New
// studies and series are created under the study's lock, so concurrent processes make each once.
//
// A refusal (the study is another patient's, the series another study's, the SOP instance
// already holds other bytes) leaves nothing behind and is reported with a PS3.7 status code as
// the instance's FailureReason.
import { randomUUID } from 'node:crypto';
import { eventsParameter, insertEventsWhere, type AuditEvent } from '../audit/index.ts';
import type { BlobStore } from '../blob/index.ts';
import { GroupCommit } from '../db/group-commit.ts';
import type { Database, Transaction } from '../db/index.ts';
import { runIn, type ShapedStatement } from '../db/statements.ts';
import { FailureReason, type CodedConcept, type ParsedInstance } from '../dicom/index.ts';
import { PatientLinkError, isoDate, linkPatient, type DicomDemographics } from './patient-link.ts';
import { objectQueryColumns, seriesQueryColumns, studyQueryColumns } from './qido-index.ts';
import type { SpooledFile } from './spool-file.ts';
import { lockStudies, refreshStudyAggregates } from './study-aggregates.ts';

export interface IngestCaller {
  tenantId: string;
  audit: Omit<AuditEvent, 'tenantId' | 'eventType' | 'outcome' | 'resourceType' | 'resourceId'>;
}

export type StoreResult =
  | { stored: true; objectId: string; alreadyStored: boolean }
  | { stored: false; reason: number; message: string };

/** DICOM modality → the dental category of imaging_studies.modality. */
const DENTAL_CATEGORY: Record<string, string> = { IO: 'INTRAORAL', PX: 'PANORAMIC', CT: 'CBCT', XC: 'PHOTO' };

/** Instances per transaction at most. */
const MAX_BATCH = 64;

class Refusal extends Error {
  constructor(readonly reason: number, message: string) {
    super(message);
  }
}

interface Registration {
  instance: ParsedInstance;
  file: SpooledFile;
  /** The key the file is being written under. */
  blobKey: string;
}

type Registered =
  | { outcome: 'registered'; objectId: string; studyId: string; studyUid: string; replacedBlobKey: string | null }
  | { outcome: 'already-stored'; objectId: string }
  | { outcome: 'refused'; reason: number; message: string };

type NewlyRegistered = Extract<Registered, { outcome: 'registered' }>;
type Completion = NewlyRegistered & { blobKey: string; sopInstanceUid: string; caller: IngestCaller };

const STUDY_COLUMNS = ['id', 'study_uid', 'patient_id', 'patient_dicom_id', 'issuer_of_patient_id'];
const SERIES_COLUMNS = ['id', 'study_id', 'series_uid'];
const OBJECT_COLUMNS = ['id', 'status', 'hash', 'series_id', 'sop_instance_uid', 'storage_uri'];

interface StudyRow { id: string; study_uid: string; patient_id: string; patient_dicom_id: string | null; issuer_of_patient_id: string | null }
interface SeriesRow { id: string; study_id: string; series_uid: string }
interface ObjectRow { id: string; status: 'CREATING' | 'CREATED'; hash: string | null; series_id: string | null; sop_instance_uid: string; storage_uri: string | null }

/** The studies, series and objects already stored under the UIDs of `records`: one statement, one round trip. */
const STORED_ROWS = `select
    (select coalesce(json_agg(found), '[]') from (select ${STUDY_COLUMNS.join(', ')} from imaging_studies
      where tenant_id = ? and study_uid = any(?)) found) as studies,
    (select coalesce(json_agg(found), '[]') from (select ${SERIES_COLUMNS.join(', ')} from imaging_series
      where tenant_id = ? and series_uid = any(?)) found) as series,
    (select coalesce(json_agg(found), '[]') from (select ${OBJECT_COLUMNS.join(', ')} from imaging_objects
      where tenant_id = ? and sop_instance_uid = any(?)) found) as objects`;

interface StoredRows { studies: StudyRow[]; series: SeriesRow[]; objects: ObjectRow[] }

function storedRows(tenantId: string, records: ParsedInstance['attributes'][], { objects = true } = {}): ShapedStatement {
  const uids = (key: 'StudyInstanceUID' | 'SeriesInstanceUID' | 'SOPInstanceUID') => [...new Set(records.map((record) => record[key]))];
  const values = [tenantId, uids('StudyInstanceUID'), tenantId, uids('SeriesInstanceUID'), tenantId, objects ? uids('SOPInstanceUID') : []];
  return { query: (q) => q.raw(STORED_ROWS, values), shape: STORED_ROWS };
}

/** How registrations run: a crash may undo one (step 3's commit flushes it), and their parameters are lists. */
const REGISTRATION_SCOPE = { durable: false, genericPlans: true };

/** Finds the stored study and series of an instance being registered, creating them if need be. */
interface StudyAndSeries {
  study(instance: ParsedInstance): Promise<StudyRow>;
  series(studyId: string, instance: ParsedInstance): Promise<string>;
}

export class InstanceIngest {
  private readonly registrations: GroupCommit<Registration, Registered>;
  private readonly completions: GroupCommit<Completion, boolean>;
  /** tenant|SOP Instance UID → the store of it under way in this process. */
  private readonly storing = new Map<string, Promise<StoreResult>>();

  constructor(private readonly db: Database, private readonly blobs: BlobStore) {
    this.registrations = new GroupCommit((tenantId, items) => inBatch(items, (batch) => this.register(tenantId, batch)), MAX_BATCH);
    this.completions = new GroupCommit((tenantId, items) => inBatch(items, (batch) => this.complete(tenantId, batch)), MAX_BATCH);
  }

  async store(caller: IngestCaller, instance: ParsedInstance, file: SpooledFile): Promise<StoreResult> {
    const key = `${caller.tenantId}|${instance.attributes.SOPInstanceUID}`;
    for (let earlier = this.storing.get(key); earlier; earlier = this.storing.get(key)) await earlier.catch(() => undefined);
    const storing = this.storeOnce(caller, instance, file);
    this.storing.set(key, storing);
    try {
      return await storing;
    } finally {
      if (this.storing.get(key) === storing) this.storing.delete(key);
    }
  }

  private async storeOnce(caller: IngestCaller, instance: ParsedInstance, file: SpooledFile): Promise<StoreResult> {
    const blobKey = `dicom/${caller.tenantId}/${randomUUID()}`;
    const writing = this.blobs.putFile(blobKey, file.bytes ?? file.path, { contentType: 'application/dicom' });
    writing.catch(() => undefined); // awaited on every path below
    let registered: Registered;
    try {
      registered = await this.registrations.submit(caller.tenantId, { instance, file, blobKey });
    } catch (error) {
      await this.discardBlob(writing, blobKey);
      throw error;
    }
    if (registered.outcome !== 'registered') await this.discardBlob(writing, blobKey);
    if (registered.outcome === 'refused') return { stored: false, reason: registered.reason, message: registered.message };
    if (registered.outcome === 'already-stored') return { stored: true, objectId: registered.objectId, alreadyStored: true };
    await writing;
    const completed = await this.completions.submit(caller.tenantId, { ...registered, blobKey, sopInstanceUid: instance.attributes.SOPInstanceUID, caller });
    if (!completed) {
      await this.removeUnnamedBlob(blobKey);
      return {
        stored: false, reason: FailureReason.ProcessingFailure,
        message: `SOP instance ${instance.attributes.SOPInstanceUID} was deleted, or taken over by another store of it, while its bytes were written`,
      };
    }
    if (registered.replacedBlobKey) await this.removeUnnamedBlob(registered.replacedBlobKey);
    return { stored: true, objectId: registered.objectId, alreadyStored: false };
  }

  /** The blob `writing` puts under `key`, which no row is to name, removed once written (or not). */
  private async discardBlob(writing: Promise<void>, key: string): Promise<void> {
    await writing.catch(() => undefined);
    await this.removeUnnamedBlob(key);
  }

  /** A blob no row names any longer; one that cannot be removed now is left to the sweep. */
  private async removeUnnamedBlob(key: string): Promise<void> {
    await this.blobs.delete(key).catch(() => undefined);
  }

  /**
   * Registers the batch. The lookup of what is stored goes to PostgreSQL with the insert of every
   * item whose study and series are stored and linked to its patient, and whose SOP instance is
   * not (as for all instances after a study's first): one round trip for those. The others are
   * decided from what the lookup found: where their studies and series are stored and linked too
   * (an instance stored again, or left CREATING), their statements go together in one more round
   * trip; else they run in a transaction that first creates what is missing.
   */
  private async register(tenantId: string, items: Registration[]): Promise<Registered[]> {
    const records = items.map(({ instance }) => instance.attributes);
    const objectIds = items.map(() => randomUUID());
    const [[found], placedRows] = await this.db.tenantStatements(tenantId, [
      storedRows(tenantId, records), insertPlaced(tenantId, items, objectIds),
    ], REGISTRATION_SCOPE) as unknown as [[StoredRows], { id: string; study_id: string }[]];
    const placed = new Map(placedRows.map((row) => [row.id, row.study_id]));
    const results: (Registered | undefined)[] = items.map(({ instance }, index) => {
      const studyId = placed.get(objectIds[index]!);
      return studyId === undefined ? undefined
        : { outcome: 'registered', objectId: objectIds[index]!, studyId, studyUid: instance.attributes.StudyInstanceUID, replacedBlobKey: null };
    });
    const rest = items.filter((_, index) => results[index] === undefined);
    if (rest.length > 0) {
      const decided = await this.registerDecided(tenantId, rest, found);
      for (let index = 0, next = 0; index < results.length; index++) results[index] ??= decided[next++];
    }
    return results as Registered[];
  }

  /** Registers the items the placement did not, from what the lookup found. */
  private async registerDecided(tenantId: string, items: Registration[], found: StoredRows): Promise<Registered[]> {
    const records = items.map(({ instance }) => instance.attributes);
    const studies = byKey(found.studies, 'study_uid');
    const series = byKey(found.series, 'series_uid');
    if (records.every((record) => isStoredAndLinked(record, studies, series))) {
      const { results, statements } = await this.registrationsOf(tenantId, items, found.objects, {
        study: async (instance) => studies.get(instance.attributes.StudyInstanceUID)!,
        series: async (studyId, instance) => storedSeriesOf(series.get(instance.attributes.SeriesInstanceUID)!, studyId, instance),
      });
      if (statements.length > 0) await this.db.tenantStatements(tenantId, statements, REGISTRATION_SCOPE);
      return results;
    }
    return this.db.tenant(tenantId, async (trx) => {
      await this.lookAgainUnderLock(trx, tenantId, records, studies, series);
      const { results, statements } = await this.registrationsOf(tenantId, items, found.objects, {
        study: (instance) => this.study(trx, tenantId, instance, studies),
        series: (studyId, instance) => this.series(trx, tenantId, studyId, instance, series),
      });
      for (const statement of statements) await runIn(trx, statement);
      return results;
    }, REGISTRATION_SCOPE);
  }

  /** The outcome of each item, and the statements that record the registered ones (object ids are chosen here). */
  private async registrationsOf(tenantId: string, items: Registration[], storedObjects: ObjectRow[], stored: StudyAndSeries): Promise<{ results: Registered[]; statements: ShapedStatement[] }> {
    const objects = byKey(storedObjects, 'sop_instance_uid');
    const results: Registered[] = [];
    const statements: ShapedStatement[] = [];
    const rows: Record<string, unknown>[] = [];
    const teeth: ToothRow[] = [];
    const takenOver: string[] = [];
    for (const { instance, file, blobKey } of items) {
      const record = instance.attributes;
      let study: StudyRow;
      let seriesId: string;
      try {
        study = await stored.study(instance);
        seriesId = await stored.series(study.id, instance);
      } catch (error) {
        if (error instanceof Refusal) results.push({ outcome: 'refused', reason: error.reason, message: error.message });
        else if (error instanceof PatientLinkError) results.push({ outcome: 'refused', reason: FailureReason.ProcessingFailure, message: error.message });
        else throw error;
        continue;
      }
      const existing = objects.get(record.SOPInstanceUID);
      if (existing?.status === 'CREATED') {
        if (existing.hash === file.sha256 && existing.series_id === seriesId) results.push({ outcome: 'already-stored', objectId: existing.id });
        else results.push({ outcome: 'refused', reason: FailureReason.DuplicateSOPInstance, message: `SOP instance ${record.SOPInstanceUID} is already stored with other content` });
        continue;
      }
      const objectId = existing?.id ?? randomUUID();
      // Left CREATING by a store that did not finish (or is still under way in another process):
      // this one takes it over, and the row is made again under its id, naming this store's blob.
      if (existing) takenOver.push(objectId);
      rows.push({ tenant_id: tenantId, id: objectId, study_id: study.id, series_id: seriesId, ...objectRow(instance, file, blobKey) });
      results.push({ outcome: 'registered', objectId, studyId: study.id, studyUid: study.study_uid, replacedBlobKey: existing?.storage_uri ?? null });
      teeth.push(...toothRowsOf(tenantId, objectId, instance));
    }
    if (takenOver.length > 0) statements.push({ query: (q) => q('imaging_objects').where({ tenant_id: tenantId }).whereIn('id', takenOver).delete() });
    if (rows.length > 0) statements.push(insertObjects(rows, teeth));
    return { results, statements };
  }

  /**
   * Where a study or a series of `records` was not found (unlocked), the study's lock is taken (in
   * UID order) and both are looked for again, so that concurrent stores, in this process or
   * another, create each once. A stored study is not locked otherwise: should a DELETE remove it
   * meanwhile, the batch's references to it fail and its items are registered again one by one.
   */
  private async lookAgainUnderLock(trx: Transaction, tenantId: string, records: ParsedInstance['attributes'][], studies: Map<string, StudyRow>, series: Map<string, SeriesRow>): Promise<void> {
    const incomplete = records.filter((record) => !studies.has(record.StudyInstanceUID) || !series.has(record.SeriesInstanceUID));
    if (incomplete.length === 0) return;
    await runIn(trx, lockStudies(tenantId, incomplete.map((record) => record.StudyInstanceUID)));
    const [foundNow] = await runIn<StoredRows>(trx, storedRows(tenantId, incomplete, { objects: false }));
    for (const study of foundNow!.studies) studies.set(study.study_uid, study);
    for (const one of foundNow!.series) series.set(one.series_uid, one);
  }

  /** The instance's study: created for the linked patient, or checked to be that patient's. */
  private async study(trx: Transaction, tenantId: string, instance: ParsedInstance, studies: Map<string, StudyRow>): Promise<StudyRow> {
    const record = instance.attributes;
    const demographics = demographicsOf(record);
    const existing = studies.get(record.StudyInstanceUID);
    if (existing) {
      if (!isLinkedBy(demographics, existing)) {
        // In a savepoint: a patient the lookup creates goes again with the refusal.
        await trx.transaction(async (savepoint) => {
          if (await linkPatient(savepoint, tenantId, demographics) !== existing.patient_id) {
            throw new Refusal(FailureReason.ProcessingFailure, `study ${record.StudyInstanceUID} belongs to another patient than PatientID ${demographics.patientId}`);
          }
        });
      }
      return existing;
    }
    const patientId = await linkPatient(trx, tenantId, demographics);
    const [created] = await trx('imaging_studies').insert({
      tenant_id: tenantId, patient_id: patientId, study_uid: record.StudyInstanceUID,
      modality: DENTAL_CATEGORY[record.Modality ?? ''] ?? null, body_part: record.BodyPartExamined ?? null,
      accession_number: record.AccessionNumber ?? null, study_description: record.StudyDescription ?? null,
      study_date: isoDate(record.StudyDate), study_time: record.StudyTime ?? null,
      referring_physician_name: record.ReferringPhysicianName ?? null, patient_name: demographics.patientName ?? null,
      patient_birth_date: demographics.birthDate ?? null, patient_sex: demographics.sex ?? null,
      patient_dicom_id: demographics.patientId ?? null, issuer_of_patient_id: demographics.issuerOfPatientId ?? null,
      ...studyQueryColumns(instance),
    }).returning(STUDY_COLUMNS) as StudyRow[];
    studies.set(record.StudyInstanceUID, created!);
    return created!;
  }

  private async series(trx: Transaction, tenantId: string, studyId: string, instance: ParsedInstance, series: Map<string, SeriesRow>): Promise<string> {
    const record = instance.attributes;
    const existing = series.get(record.SeriesInstanceUID);
    if (existing) return storedSeriesOf(existing, studyId, instance);
    const [created] = await trx('imaging_series').insert({
      tenant_id: tenantId, study_id: studyId, series_uid: record.SeriesInstanceUID, modality: record.Modality ?? null,
      series_number: record.SeriesNumber ?? null, series_description: record.SeriesDescription ?? null,
      body_part_examined: record.BodyPartExamined ?? null, ...seriesQueryColumns(instance),
    }).returning(SERIES_COLUMNS) as SeriesRow[];
    series.set(record.SeriesInstanceUID, created!);
    return created!.id;
  }

  /**
   * Marks the objects CREATED that still name the blob written for them, counts them into their
   * series and studies and audits them, in one durable transaction sent at once; true for each
   * object that was marked.
   */
  private async complete(tenantId: string, items: Completion[]): Promise<boolean[]> {
    const events = items.map((item): AuditEvent => ({
      ...item.caller.audit, tenantId, eventType: 'DICOM_STORE', resourceType: 'ImagingStudy', resourceId: item.studyId, outcome: 'SUCCESS',
      metadata: { objectId: item.objectId, sopInstanceUid: item.sopInstanceUid },
    }));
    const [, marked] = await this.db.tenantStatements(tenantId, [
      lockStudies(tenantId, items.map((item) => item.studyUid)),
      markCreated(tenantId, items, events),
      refreshStudyAggregates(tenantId, [...new Set(items.map((item) => item.studyId))]),
    ], { durable: true, genericPlans: true });
    const markedIds = new Set(marked!.map((row) => row.id));
    return items.map((item) => markedIds.has(item.objectId));
  }
}

function markCreated(tenantId: string, items: Completion[], events: AuditEvent[]): ShapedStatement {
  const values = [items.map((item) => item.objectId), items.map((item) => item.blobKey), tenantId, tenantId, eventsParameter(events)];
  return { query: (q) => q.raw(MARK_CREATED, values), shape: MARK_CREATED };
}

/** The objects that still name the blob written for them become CREATED, count into their series, and are audited. */
const MARK_CREATED = `with marked as (
    update imaging_objects o set status = 'CREATED'
    from unnest(?::uuid[], ?::text[]) as written (id, blob_key)
    where o.tenant_id = ? and o.id = written.id and o.storage_uri = written.blob_key and o.status = 'CREATING'
    returning o.id, o.series_id
  ), counted as (
    update imaging_series se set number_of_instances = se.number_of_instances + added.count
    from (select series_id, count(*) as count from marked group by series_id) as added
    where se.tenant_id = ? and se.id = added.series_id
  ), audited as (
    ${insertEventsWhere("(event.metadata->>'objectId')::uuid in (select id from marked)")}
  )
  select id from marked`;

/** The imaging_objects columns a registration writes, but the key, the study and the series. */
const OBJECT_ROW_COLUMNS = ['sop_instance_uid', 'sop_class_uid', 'object_type', 'status', 'storage_uri', 'hash', 'byte_size', 'width', 'height',
  'number_of_frames', 'transfer_syntax_uid', 'instance_number', 'dicom_json', 'frame_offsets', 'bulk_data', 'acquisition_datetime_key', 'qido_attributes'] as const;

/** Every query column of an instance is among OBJECT_ROW_COLUMNS (a compile error otherwise), so the inserts, which name their columns, store it. */
const queryColumnsListed: keyof ReturnType<typeof objectQueryColumns> extends (typeof OBJECT_ROW_COLUMNS)[number] ? true : never = true;
void queryColumnsListed;

/** The OBJECT_ROW_COLUMNS of a registered instance (JSON values as objects). */
function objectRow(instance: ParsedInstance, file: SpooledFile, blobKey: string): Record<(typeof OBJECT_ROW_COLUMNS)[number], unknown> {
  const record = instance.attributes;
  return {
    sop_instance_uid: record.SOPInstanceUID, sop_class_uid: record.SOPClassUID, object_type: 'DICOM', status: 'CREATING',
    storage_uri: blobKey, hash: file.sha256, byte_size: file.size,
    width: record.Columns ?? null, height: record.Rows ?? null, number_of_frames: record.NumberOfFrames ?? null,
    transfer_syntax_uid: record.TransferSyntaxUID, instance_number: record.InstanceNumber ?? null,
    dicom_json: instance.dicomJson, frame_offsets: instance.pixelData?.frames ?? null, bulk_data: instance.bulkData,
    ...objectQueryColumns(instance),
  };
}

type ToothRow = ReturnType<typeof toothRowsOf>[number];

function toothRowsOf(tenantId: string, objectId: string, instance: ParsedInstance) {
  return uniqueTeeth(instance.teeth).map((tooth) => ({
    tenant_id: tenantId, object_id: objectId, tooth_code: tooth.CodeValue, code_system: tooth.CodingSchemeDesignator, code_meaning: tooth.CodeMeaning ?? null,
  }));
}

/** The columns a registration inserts: the key, the study and series, and OBJECT_ROW_COLUMNS. */
const INSERTED_COLUMNS = ['tenant_id', 'id', 'study_id', 'series_id', ...OBJECT_ROW_COLUMNS];

/**
 * Inserts the imaging_objects rows that `source` gives as `o` (rows as JSON, as the audit log
 * writes them), and the teeth (a JSON parameter after those of `source`) of the objects inserted;
 * answers the inserted objects and their studies.
 */
const insertingObjects = (source: string, onConflict = '') => `with inserted as (
    insert into imaging_objects (${INSERTED_COLUMNS.join(', ')})
    select ${INSERTED_COLUMNS.map((column) => `o.${column}`).join(', ')} from ${source}
    ${onConflict}
    returning id, study_id
  ), teeth as (
    insert into imaging_object_teeth (tenant_id, object_id, tooth_code, code_system, code_meaning)
    select t.tenant_id, t.object_id, t.tooth_code, t.code_system, t.code_meaning
    from jsonb_populate_recordset(null::imaging_object_teeth, ?::jsonb) t join inserted on inserted.id = t.object_id
  )
  select id, study_id from inserted`;

const INSERT_OBJECTS = insertingObjects('jsonb_populate_recordset(null::imaging_objects, ?::jsonb) o');

function insertObjects(rows: Record<string, unknown>[], teeth: ToothRow[]): ShapedStatement {
  const values = [JSON.stringify(rows), JSON.stringify(teeth)];
  return { query: (q) => q.raw(INSERT_OBJECTS, values), shape: INSERT_OBJECTS };
}

/**
 * Inserts each item whose series is stored in its study, the study linked by the instance's
 * PatientID (or the instance without one), and whose SOP instance is not stored: the rows that
 * need nothing created or decided first. Each series is found by its key (a lateral join: the 100
 * rows assumed of a JSON array could plan a scan of imaging_series).
 */
const INSERT_PLACED = insertingObjects(`jsonb_to_recordset(?::jsonb) as item (row jsonb, study_uid text, series_uid text, patient_id text, issuer_of_patient_id text)
    cross join lateral (
      select se.id, se.study_id from imaging_series se join imaging_studies st on st.tenant_id = se.tenant_id and st.id = se.study_id
      where se.tenant_id = ? and se.series_uid = item.series_uid and st.study_uid = item.study_uid
        and (coalesce(item.patient_id, '') = ''
             or (st.patient_dicom_id = item.patient_id and st.issuer_of_patient_id is not distinct from item.issuer_of_patient_id))
    ) se
    cross join lateral jsonb_populate_record(null::imaging_objects, item.row || jsonb_build_object('study_id', se.study_id, 'series_id', se.id)) o`,
'on conflict (tenant_id, sop_instance_uid) do nothing');

function insertPlaced(tenantId: string, items: Registration[], objectIds: string[]): ShapedStatement {
  const placed = items.map(({ instance, file, blobKey }, index) => ({
    row: { tenant_id: tenantId, id: objectIds[index], ...objectRow(instance, file, blobKey) },
    study_uid: instance.attributes.StudyInstanceUID, series_uid: instance.attributes.SeriesInstanceUID,
    patient_id: instance.attributes.PatientID, issuer_of_patient_id: instance.attributes.IssuerOfPatientID,
  }));
  const teeth = items.flatMap(({ instance }, index) => toothRowsOf(tenantId, objectIds[index]!, instance));
  const values = [JSON.stringify(placed), tenantId, JSON.stringify(teeth)];
  return { query: (q) => q.raw(INSERT_PLACED, values), shape: INSERT_PLACED };
}

/**
 * `write` of the batch; should that fail, of each item alone, so that one item's unexpected
 * failure fails that item only. A batch of one is tried again only when it lost a race for a row
 * (another process stored or deleted the same instance at the same time): the other transaction
 * has ended by then, and the second try sees what it left. The statements take the batch's UIDs
 * as lists: generic plans (src/db/scoped-client.ts).
 */
async function inBatch<Item, Result>(items: Item[], write: (items: Item[]) => Promise<Result[]>): Promise<(Result | Promise<Result>)[]> {
  try {
    return await write(items);
  } catch (error) {
    if (items.length === 1 && !lostRaceForRow(error)) throw error;
  }
  const results: Promise<Result>[] = [];
  for (const item of items) {
    const alone = write([item]).then((written) => written[0]!);
    await alone.catch(() => undefined);
    results.push(alone);
  }
  return results;
}

/** unique_violation, foreign_key_violation: a row the transaction was to create or reference was created or removed meanwhile. */
function lostRaceForRow(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return code === '23505' || code === '23503';
}

/** The PatientID the study was linked by names its patient: only another one needs looking up. */
function isLinkedBy(demographics: DicomDemographics, study: StudyRow): boolean {
  return !demographics.patientId || (demographics.patientId === (study.patient_dicom_id ?? undefined)
    && demographics.issuerOfPatientId === (study.issuer_of_patient_id ?? undefined));
}

/** Nothing to create or look up: the study and series are stored, the study linked by the instance's PatientID. */
function isStoredAndLinked(record: ParsedInstance['attributes'], studies: Map<string, StudyRow>, series: Map<string, SeriesRow>): boolean {
  const study = studies.get(record.StudyInstanceUID);
  return study !== undefined && series.has(record.SeriesInstanceUID) && isLinkedBy(demographicsOf(record), study);
}

function storedSeriesOf(series: SeriesRow, studyId: string, instance: ParsedInstance): string {
  if (series.study_id !== studyId) throw new Refusal(FailureReason.ProcessingFailure, `series ${instance.attributes.SeriesInstanceUID} belongs to another study`);
  return series.id;
}

function byKey<Row, K extends keyof Row>(rows: Row[], key: K): Map<Row[K], Row> {
  return new Map(rows.map((row) => [row[key], row]));
}

/** The demographics a study's instance carries, for patient linking. */
function demographicsOf(record: ParsedInstance['attributes']): DicomDemographics {
  return {
    patientId: record.PatientID, issuerOfPatientId: record.IssuerOfPatientID, patientName: record.PatientName,
    birthDate: record.PatientBirthDate, sex: record.PatientSex,
  };
}

function uniqueTeeth(teeth: CodedConcept[]): CodedConcept[] {
  const seen = new Map<string, CodedConcept>();
  for (const tooth of teeth) seen.set(`${tooth.CodingSchemeDesignator}|${tooth.CodeValue}`, tooth);
  return [...seen.values()];
}
