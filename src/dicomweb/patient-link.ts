// Which patient a received instance belongs to. PatientID is matched to the values of the
// tenant's patient_identifiers: of the identifiers whose system_uri is the IssuerOfPatientID when
// the instance has one, of any identifier otherwise (devices are given the practice's chart
// number without an issuer); a PatientID that names several patients is refused. With no
// match, a patient is created from the DICOM demographics and marked as created from imaging. Concurrent instances of one new patient create it once: they take the
// same transaction-scoped advisory lock before they look.
import type { Transaction } from '../db/index.ts';

export interface DicomDemographics {
  patientId?: string;
  issuerOfPatientId?: string;
  /** DICOM PN, Alphabetic group: "Family^Given^Middle^Prefix^Suffix". */
  patientName?: string;
  /** DICOM DA: YYYYMMDD. */
  birthDate?: string;
  /** DICOM CS: M, F or O. */
  sex?: string;
}

export class PatientLinkError extends Error {}

const SEX: Record<string, string> = { M: 'MALE', F: 'FEMALE', O: 'OTHER' };

/** A DICOM DA (YYYYMMDD) as an ISO date, or null when it is not a valid date. */
export function isoDate(value: string | undefined): string | null {
  const match = /^(\d{4})(\d{2})(\d{2})$/.exec(value?.trim() ?? '');
  if (!match) return null;
  const iso = `${match[1]}-${match[2]}-${match[3]}`;
  return Number.isNaN(Date.parse(`${iso}T00:00:00Z`)) ? null : iso;
}

function nameParts(patientName: string | undefined): { first_name: string | null; last_name: string | null } {
  const [family = '', given = '', middle = ''] = (patientName ?? '').split('^').map((part) => part.trim());
  const first = [given, middle].filter(Boolean).join(' ');
  return { first_name: first || null, last_name: family || null };
}

/** The patient's id: found by identifier, or created from the demographics. */
export async function linkPatient(trx: Transaction, tenantId: string, demographics: DicomDemographics): Promise<string> {
  const patientId = demographics.patientId?.trim();
  const issuer = demographics.issuerOfPatientId?.trim() || null;
  if (patientId) {
    await trx.raw('select pg_advisory_xact_lock(hashtextextended(?, 0))', [`${tenantId}|dicom-patient|${issuer ?? ''}|${patientId}`]);
    const matches = await trx('patient_identifiers as i').join('patients as p', function () {
      this.on('p.tenant_id', 'i.tenant_id').andOn('p.id', 'i.patient_id');
    })
      .where({ 'i.tenant_id': tenantId, 'i.value': patientId }).whereNull('p.deleted_at')
      .modify((query) => (issuer ? query.where('i.system_uri', issuer) : query))
      .distinct('i.patient_id');
    if (matches.length > 1) throw new PatientLinkError(`PatientID ${patientId} names ${matches.length} patients of this tenant`);
    if (matches.length === 1) return matches[0]!.patient_id as string;
  }
  const [patient] = await trx('patients').insert({
    tenant_id: tenantId, ...nameParts(demographics.patientName), dob: isoDate(demographics.birthDate),
    sex_at_birth: SEX[demographics.sex?.trim() ?? ''] ?? null, created_from: 'IMAGING',
  }).returning('id');
  if (patientId) {
    await trx('patient_identifiers').insert({ tenant_id: tenantId, patient_id: patient.id, system: 'MRN', system_uri: issuer, value: patientId, is_primary: true });
  }
  return patient.id as string;
}
