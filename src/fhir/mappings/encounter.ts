// fhir4.Encounter ↔ encounters (https://hl7.org/fhir/R4/encounter.html): a dental visit.
//
// period: an encounter that has not begun (planned, cancelled — "ended before it has begun")
// is a schedule, so its period.start is scheduled_start_at; one that has begun (in-progress,
// finished) has period.start = check_in_at and period.end = check_out_at. A write of a begun
// encounter leaves scheduled_start_at as it was, so the planned time survives the check-in.
// On read, period.start is check_in_at, or scheduled_start_at before the check-in.
//
// class is always AMB: every dental visit is ambulatory, and the schema has no column for it.
import { codeTable } from '../codes.ts';
import {
  codingIn, compact, dateTimeOf, defineMapping, instantOf, referencedId, referenceTo, referenceType, required, type ResourceContent,
} from '../mapping.ts';
import { dateParam, profileDisplays, referenceParam, tokenParam } from '../search/declarations.ts';

export const ENCOUNTER_TYPE_SYSTEM = 'https://cusp.dental/fhir/CodeSystem/encounter-type';
const ACT_CODE = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';

/**
 * http://hl7.org/fhir/encounter-status ↔ the seed's statuses. arrived, triaged, onleave,
 * entered-in-error and unknown have no seed value: 422. NO_SHOW (a visit that never happened)
 * has no FHIR code and reads as cancelled.
 */
export const ENCOUNTER_STATUS = codeTable({
  planned: 'SCHEDULED', 'in-progress': 'IN_PROGRESS', finished: 'COMPLETED', cancelled: 'CANCELLED',
}, { NO_SHOW: 'cancelled' });

/** profiles/CodeSystem-encounter-type.json ↔ encounters.encounter_type. */
export const ENCOUNTER_TYPE = codeTable({
  exam: 'EXAM', emergency: 'EMERGENCY', hygiene: 'HYGIENE', ortho: 'ORTHO', implant: 'IMPLANT', teaching: 'TEACHING',
});

/** The statuses of an encounter that has not begun: its period is the scheduled one. */
const NOT_BEGUN = new Set(['SCHEDULED', 'CANCELLED']);

function practitionerId(encounter: ResourceContent<fhir4.Encounter>): string | null {
  // The first participant who is a Practitioner; other participants are kept by the residual.
  const index = encounter.participant?.findIndex((p) => referenceType(p.individual) === 'Practitioner') ?? -1;
  if (index < 0) return null;
  return referencedId(encounter.participant![index]!.individual, 'Practitioner', `Encounter.participant[${index}].individual`);
}

export const encounterMapping = defineMapping<fhir4.Encounter>({
  type: 'Encounter',
  table: 'encounters',
  children: [],
  softDelete: true,
  provenance: true,

  toRows(encounter) {
    const status = ENCOUNTER_STATUS.toColumn(encounter.status, 'Encounter.status');
    const typeCode = codingIn(encounter.type, ENCOUNTER_TYPE_SYSTEM)?.code;
    const start = instantOf(encounter.period?.start);
    const reason = encounter.reasonCode?.[0];
    return {
      row: {
        status,
        // Without a Cusp type the column's default applies: a visit is an exam unless said otherwise.
        encounter_type: typeCode ? ENCOUNTER_TYPE.toColumn(typeCode, 'Encounter.type') : 'EXAM',
        patient_id: referencedId(required(encounter.subject, 'Encounter.subject', 'every encounter is a patient\'s'), 'Patient', 'Encounter.subject'),
        provider_id: practitionerId(encounter),
        location_id: referencedId(encounter.location?.[0]?.location, 'Location', 'Encounter.location[0].location'),
        ...(NOT_BEGUN.has(status)
          ? { scheduled_start_at: start, check_in_at: null, check_out_at: null }
          : { check_in_at: start, check_out_at: instantOf(encounter.period?.end) }),
        reason: reason?.text ?? reason?.coding?.find((c) => c.display)?.display ?? null,
      },
      children: {},
    };
  },

  toResource({ row }) {
    const type = ENCOUNTER_TYPE.toCode(row.encounter_type);
    return compact({
      resourceType: 'Encounter' as const,
      status: ENCOUNTER_STATUS.toCode(row.status) as fhir4.Encounter['status'],
      class: { system: ACT_CODE, code: 'AMB' },
      type: type ? [{ coding: [{ system: ENCOUNTER_TYPE_SYSTEM, code: type }] }] : undefined,
      subject: referenceTo('Patient', row.patient_id),
      participant: row.provider_id ? [{ individual: referenceTo('Practitioner', row.provider_id) }] : undefined,
      period: { start: dateTimeOf(row.check_in_at ?? row.scheduled_start_at), end: dateTimeOf(row.check_out_at) },
      reasonCode: row.reason ? [{ text: row.reason as string }] : undefined,
      location: row.location_id ? [{ location: referenceTo('Location', row.location_id)! }] : undefined,
    });
  },

  search: {
    patient: referenceParam({ expression: 'Encounter.subject.where(resolve() is Patient)', description: 'The patient present at the encounter' }, 'patient_id', ['Patient']),
    subject: referenceParam({ expression: 'Encounter.subject', description: 'The patient present at the encounter' }, 'patient_id', ['Patient']),
    status: tokenParam({ expression: 'Encounter.status', description: 'planned | in-progress | finished | cancelled' },
      { code: 'status', system: { fixed: 'http://hl7.org/fhir/encounter-status' }, codes: ENCOUNTER_STATUS }),
    type: tokenParam({ expression: 'Encounter.type', description: 'The kind of dental visit' },
      { code: 'encounter_type', system: { fixed: ENCOUNTER_TYPE_SYSTEM }, codes: ENCOUNTER_TYPE, displays: profileDisplays('CodeSystem-encounter-type.json') }),
    // fhir_period_start (migrations/012) is coalesce(check_in_at, scheduled_start_at): period.start as rendered.
    date: dateParam({ expression: 'Encounter.period', description: 'A date within the period the Encounter lasted' }, 'timestamp', 'fhir_period_start', 'check_out_at'),
    location: referenceParam({ expression: 'Encounter.location.location', description: 'Location the encounter takes place' }, 'location_id', ['Location']),
    practitioner: referenceParam({ expression: 'Encounter.participant.individual.where(resolve() is Practitioner)', description: 'Persons involved in the encounter other than the patient' }, 'provider_id', ['Practitioner']),
    participant: referenceParam({ expression: 'Encounter.participant.individual', description: 'Persons involved in the encounter other than the patient' }, 'provider_id', ['Practitioner']),
  },
});
