// Storing one received DICOM instance (STOW-RS, and C-STORE later): rows first, then the bytes,
// then the rows say the bytes are there.
//
// 1. One short tenant transaction links the patient, finds or creates the study and series,
//    and registers the object as CREATING with its attributes, DICOM JSON and frame index.
//    Instances of one study take the study's advisory lock for this step only.
// 2. The file goes to the blob store under an opaque key (UIDs can carry patient data); the
//    store makes it durable before it returns.
// 3. A second transaction marks the object CREATED, names its blob, counts it into its series
//    and study, and audits the write. Queries and retrieval see CREATED objects only, so a crash
//    at any point leaves nothing half-made visible. A CREATING row a crash left behind is taken
//    over by the next store of the same instance; a blob written before the crash is named by
//    no row (removing such blobs is left to a sweep, not yet written).
//
// A refusal (the study is another patient's, the series another study's, the SOP instance
// already holds other bytes) rolls back everything the first step did and is reported with a
// PS3.7 status code as the instance's FailureReason.
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import type { AuditLog, AuditEvent } from '../audit/index.ts';
import type { BlobStore } from '../blob/index.ts';
import type { Database, Transaction } from '../db/index.ts';
import { FailureReason, type CodedConcept, type ParsedInstance } from '../dicom/index.ts';
import type { MultipartPart } from './multipart.ts';
import { PatientLinkError, isoDate, linkPatient, type DicomDemographics } from './patient-link.ts';
import { objectQueryColumns, seriesQueryColumns, studyQueryColumns } from './qido-index.ts';
import { lockStudy, refreshStudyAggregates } from './study-aggregates.ts';

/** The received file: a spooled STOW-RS part, or any file whose size and SHA-256 are known. */
export type SpooledFile = Pick<MultipartPart, 'path' | 'size' | 'sha256'>;

export interface IngestCaller {
  tenantId: string;
  audit: Omit<AuditEvent, 'tenantId' | 'eventType' | 'outcome' | 'resourceType' | 'resourceId'>;
}

export type StoreResult =
  | { stored: true; objectId: string; alreadyStored: boolean }
  | { stored: false; reason: number; message: string };

/** DICOM modality → the dental category of imaging_studies.modality. */
const DENTAL_CATEGORY: Record<string, string> = { IO: 'INTRAORAL', PX: 'PANORAMIC', CT: 'CBCT', XC: 'PHOTO' };

class Refusal extends Error {
  constructor(readonly reason: number, message: string) {
    super(message);
  }
}

interface Registered {
  objectId: string;
  studyId: string;
  seriesId: string;
  /** Null when the same bytes are already stored: nothing more to do. */
  blobKey: string | null;
}

export class InstanceIngest {
  constructor(private readonly db: Database, private readonly blobs: BlobStore, private readonly audit: AuditLog) {}

  async store(caller: IngestCaller, instance: ParsedInstance, file: SpooledFile): Promise<StoreResult> {
    let registered: Registered;
    try {
      registered = await this.db.tenant(caller.tenantId, (trx) => this.register(trx, caller.tenantId, instance, file));
    } catch (error) {
      if (error instanceof Refusal) return { stored: false, reason: error.reason, message: error.message };
      if (error instanceof PatientLinkError) return { stored: false, reason: FailureReason.ProcessingFailure, message: error.message };
      throw error;
    }
    if (registered.blobKey === null) return { stored: true, objectId: registered.objectId, alreadyStored: true };
    await this.blobs.put(registered.blobKey, fs.createReadStream(file.path), { contentType: 'application/dicom' });
    await this.db.tenant(caller.tenantId, (trx) => this.complete(trx, caller, registered));
    return { stored: true, objectId: registered.objectId, alreadyStored: false };
  }

  private async register(trx: Transaction, tenantId: string, instance: ParsedInstance, file: SpooledFile): Promise<Registered> {
    const record = instance.attributes;
    await lockStudy(trx, tenantId, record.StudyInstanceUID);
    const studyId = await this.study(trx, tenantId, instance);
    const seriesId = await this.series(trx, tenantId, studyId, instance);

    const existing = await trx('imaging_objects').where({ tenant_id: tenantId, sop_instance_uid: record.SOPInstanceUID })
      .first('id', 'status', 'hash', 'series_id');
    if (existing?.status === 'CREATED') {
      if (existing.hash === file.sha256 && existing.series_id === seriesId) return { objectId: existing.id, studyId, seriesId, blobKey: null };
      throw new Refusal(FailureReason.DuplicateSOPInstance, `SOP instance ${record.SOPInstanceUID} is already stored with other content`);
    }
    const columns = {
      study_id: studyId, series_id: seriesId, sop_instance_uid: record.SOPInstanceUID, sop_class_uid: record.SOPClassUID,
      object_type: 'DICOM', status: 'CREATING', storage_uri: null, hash: file.sha256, byte_size: file.size,
      width: record.Columns ?? null, height: record.Rows ?? null, number_of_frames: record.NumberOfFrames ?? null,
      transfer_syntax_uid: record.TransferSyntaxUID, instance_number: record.InstanceNumber ?? null,
      dicom_json: instance.dicomJson, frame_offsets: instance.pixelData?.frames ? JSON.stringify(instance.pixelData.frames) : null,
      bulk_data: JSON.stringify(instance.bulkData), ...objectQueryColumns(instance),
    };
    let objectId: string;
    if (existing) {
      // Left CREATING by a store that did not finish: this one takes it over.
      objectId = existing.id;
      await trx('imaging_objects').where({ tenant_id: tenantId, id: objectId }).update(columns);
      await trx('imaging_object_teeth').where({ tenant_id: tenantId, object_id: objectId }).delete();
    } else {
      [{ id: objectId }] = await trx('imaging_objects').insert({ tenant_id: tenantId, ...columns }).returning('id');
    }
    const teeth = uniqueTeeth(instance.teeth);
    if (teeth.length > 0) {
      await trx('imaging_object_teeth').insert(teeth.map((tooth) => ({
        tenant_id: tenantId, object_id: objectId, tooth_code: tooth.CodeValue, code_system: tooth.CodingSchemeDesignator, code_meaning: tooth.CodeMeaning ?? null,
      })));
    }
    return { objectId, studyId, seriesId, blobKey: `dicom/${tenantId}/${randomUUID()}` };
  }

  /** The study's id; created for the linked patient, or checked to be that patient's. */
  private async study(trx: Transaction, tenantId: string, instance: ParsedInstance): Promise<string> {
    const record = instance.attributes;
    const demographics = demographicsOf(record);
    const existing = await trx('imaging_studies').where({ tenant_id: tenantId, study_uid: record.StudyInstanceUID })
      .first('id', 'patient_id', 'patient_dicom_id', 'issuer_of_patient_id');
    if (existing) {
      // The PatientID the study was linked by names its patient: only another one needs looking up.
      const samePatientId = demographics.patientId === (existing.patient_dicom_id ?? undefined)
        && demographics.issuerOfPatientId === (existing.issuer_of_patient_id ?? undefined);
      if (demographics.patientId && !samePatientId) {
        const patientId = await linkPatient(trx, tenantId, demographics);
        if (patientId !== existing.patient_id) {
          throw new Refusal(FailureReason.ProcessingFailure, `study ${record.StudyInstanceUID} belongs to another patient than PatientID ${demographics.patientId}`);
        }
      }
      return existing.id;
    }
    const patientId = await linkPatient(trx, tenantId, demographics);
    const [{ id }] = await trx('imaging_studies').insert({
      tenant_id: tenantId, patient_id: patientId, study_uid: record.StudyInstanceUID,
      modality: DENTAL_CATEGORY[record.Modality ?? ''] ?? null, body_part: record.BodyPartExamined ?? null,
      accession_number: record.AccessionNumber ?? null, study_description: record.StudyDescription ?? null,
      study_date: isoDate(record.StudyDate), study_time: record.StudyTime ?? null,
      referring_physician_name: record.ReferringPhysicianName ?? null, patient_name: demographics.patientName ?? null,
      patient_birth_date: demographics.birthDate ?? null, patient_sex: demographics.sex ?? null,
      patient_dicom_id: demographics.patientId ?? null, issuer_of_patient_id: demographics.issuerOfPatientId ?? null,
      ...studyQueryColumns(instance),
    }).returning('id');
    return id as string;
  }

  private async series(trx: Transaction, tenantId: string, studyId: string, instance: ParsedInstance): Promise<string> {
    const record = instance.attributes;
    const existing = await trx('imaging_series').where({ tenant_id: tenantId, series_uid: record.SeriesInstanceUID }).first('id', 'study_id');
    if (existing) {
      if (existing.study_id !== studyId) throw new Refusal(FailureReason.ProcessingFailure, `series ${record.SeriesInstanceUID} belongs to another study`);
      return existing.id;
    }
    const [{ id }] = await trx('imaging_series').insert({
      tenant_id: tenantId, study_id: studyId, series_uid: record.SeriesInstanceUID, modality: record.Modality ?? null,
      series_number: record.SeriesNumber ?? null, series_description: record.SeriesDescription ?? null,
      body_part_examined: record.BodyPartExamined ?? null, ...seriesQueryColumns(instance),
    }).returning('id');
    return id as string;
  }

  private async complete(trx: Transaction, caller: IngestCaller, registered: Registered): Promise<void> {
    const { tenantId } = caller;
    const marked = await trx('imaging_objects').where({ tenant_id: tenantId, id: registered.objectId, status: 'CREATING' })
      .update({ status: 'CREATED', storage_uri: registered.blobKey });
    if (marked > 0) {
      await trx('imaging_series').where({ tenant_id: tenantId, id: registered.seriesId }).increment('number_of_instances', 1);
      await refreshStudyAggregates(trx, tenantId, registered.studyId);
    }
    await this.audit.recordInTransaction(trx, {
      ...caller.audit, tenantId, eventType: 'DICOM_STORE', resourceType: 'ImagingStudy', resourceId: registered.studyId, outcome: 'SUCCESS',
    });
  }
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
