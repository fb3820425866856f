// fhir4.Procedure ↔ procedures (https://hl7.org/fhir/R4/procedure.html): a dental service
// performed, coded in CDT, on a tooth and its surfaces.
//
// The tooth and the surface are two bodySite entries, each one concept: the tooth in Oral Site
// Codes (FDI / ISO 3950 two-digit notation, https://hl7.org/fhir/R4/codesystem-ex-tooth.html,
// the system of the R4 value set http://hl7.org/fhir/ValueSet/tooth) and the surface in Surface
// Codes (https://hl7.org/fhir/R4/codesystem-surface.html, value set
// http://hl7.org/fhir/ValueSet/surface). Oral sites that are not one tooth (0 oral cavity,
// 1–8 quadrants) have no column and are kept by the residual; codes those systems do not
// define are 422.
//
// performed: performedPeriod ↔ start_at/end_at; a performedDateTime is start_at. A row with no
// end_at reads as performedDateTime, one with end_at as performedPeriod.
import { codeTable } from '../codes.ts';
import {
  codingIn, compact, dateTimeOf, defineMapping, instantOf, referencedId, referenceTo, referenceType, required,
  type ResourceContent,
} from '../mapping.ts';
import { unprocessable } from '../../http/errors.ts';
import { dateParam, referenceParam, tokenParam } from '../search/declarations.ts';

/** CDT, the code on dental procedures and nomenclature (THO: http://www.ada.org/cdt, OID 2.16.840.1.113883.6.13). */
export const CDT = 'http://www.ada.org/cdt';
export const TOOTH_SYSTEM = 'http://terminology.hl7.org/CodeSystem/ex-tooth';
export const SURFACE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/FDI-surface';
const CDT_CODE = /^D\d{4}$/;

const identity = (codes: string[]) => codeTable(Object.fromEntries(codes.map((code) => [code, code])));
/** The permanent teeth of ex-tooth (11–18, 21–28, 31–38, 41–48), stored as written in tooth_number. */
export const TOOTH = identity([1, 2, 3, 4].flatMap((quadrant) => [1, 2, 3, 4, 5, 6, 7, 8].map((tooth) => `${quadrant}${tooth}`)));
/** ex-tooth codes that name an oral site other than one tooth: valid, but tooth_number cannot hold them. */
export const ORAL_SITES = new Set(['0', '1', '2', '3', '4', '5', '6', '7', '8']);
/** Every code of FDI-surface, stored as written in surface. */
const SURFACE = identity(['M', 'O', 'I', 'D', 'B', 'V', 'L', 'MO', 'DO', 'DI', 'MOD']);

/**
 * http://hl7.org/fhir/event-status ↔ procedures.status, a free-text column whose comment names
 * the FHIR codes in upper case: every code is mapped, explicitly.
 */
export const PROCEDURE_STATUS = codeTable({
  preparation: 'PREPARATION', 'in-progress': 'IN_PROGRESS', 'not-done': 'NOT_DONE', 'on-hold': 'ON_HOLD',
  stopped: 'STOPPED', completed: 'COMPLETED', 'entered-in-error': 'ENTERED_IN_ERROR', unknown: 'UNKNOWN',
});

function cdtCode(procedure: ResourceContent<fhir4.Procedure>): string {
  const code = required(procedure.code, 'Procedure.code', 'procedures.cdt_code is not null');
  const coding = codingIn(code, CDT);
  if (!coding?.code || !CDT_CODE.test(coding.code)) {
    throw unprocessable(`Procedure.code: a CDT code (system ${CDT}, e.g. D2391) is required; `
      + `${coding ? `"${coding.code ?? ''}" is not one` : 'none was given'}`, 'Procedure.code');
  }
  return coding.code;
}

function toothNumber(bodySite: fhir4.CodeableConcept[] | undefined): string | null {
  const code = codingIn(bodySite, TOOTH_SYSTEM)?.code;
  if (code === undefined || ORAL_SITES.has(code)) return null;
  return TOOTH.toColumn(code, 'Procedure.bodySite');
}

function surface(bodySite: fhir4.CodeableConcept[] | undefined): string | null {
  const code = codingIn(bodySite, SURFACE_SYSTEM)?.code;
  return code === undefined ? null : SURFACE.toColumn(code, 'Procedure.bodySite');
}

function practitionerId(procedure: ResourceContent<fhir4.Procedure>): string | null {
  // The first performer who is a Practitioner; other performers are kept by the residual.
  const index = procedure.performer?.findIndex((p) => referenceType(p.actor) === 'Practitioner') ?? -1;
  if (index < 0) return null;
  return referencedId(procedure.performer![index]!.actor, 'Practitioner', `Procedure.performer[${index}].actor`);
}

export const procedureMapping = defineMapping<fhir4.Procedure>({
  type: 'Procedure',
  table: 'procedures',
  children: [],
  softDelete: false,
  provenance: true,

  toRows(procedure) {
    return {
      row: {
        status: PROCEDURE_STATUS.toColumn(procedure.status, 'Procedure.status'),
        cdt_code: cdtCode(procedure),
        patient_id: referencedId(procedure.subject, 'Patient', 'Procedure.subject'),
        encounter_id: referencedId(procedure.encounter, 'Encounter', 'Procedure.encounter'),
        provider_id: practitionerId(procedure),
        start_at: instantOf(procedure.performedPeriod?.start ?? procedure.performedDateTime),
        end_at: instantOf(procedure.performedPeriod?.end),
        tooth_number: toothNumber(procedure.bodySite),
        surface: surface(procedure.bodySite),
        notes: procedure.note?.[0]?.text ?? null,
      },
      children: {},
    };
  },

  toResource({ row }) {
    const start = dateTimeOf(row.start_at);
    const end = dateTimeOf(row.end_at);
    return compact({
      resourceType: 'Procedure' as const,
      // A status another writer left empty or wrote outside the table is not known to FHIR.
      status: (PROCEDURE_STATUS.toCode(row.status) ?? 'unknown') as fhir4.Procedure['status'],
      code: { coding: [{ system: CDT, code: row.cdt_code as string }] },
      subject: referenceTo('Patient', row.patient_id)!,
      encounter: referenceTo('Encounter', row.encounter_id),
      performedDateTime: end ? undefined : start,
      performedPeriod: end ? { start, end } : undefined,
      performer: row.provider_id ? [{ actor: referenceTo('Practitioner', row.provider_id)! }] : undefined,
      bodySite: [
        row.tooth_number ? { coding: [{ system: TOOTH_SYSTEM, code: row.tooth_number as string }] } : undefined,
        row.surface ? { coding: [{ system: SURFACE_SYSTEM, code: row.surface as string }] } : undefined,
      ].filter((site) => site !== undefined),
      note: row.notes ? [{ text: row.notes as string }] : undefined,
    });
  },

  search: {
    code: tokenParam({ expression: 'Procedure.code', description: 'A CDT code of the procedure' }, { code: 'cdt_code', system: { fixed: CDT } }),
    patient: referenceParam({ expression: 'Procedure.subject.where(resolve() is Patient)', description: 'The patient the procedure was performed on' }, 'patient_id', ['Patient']),
    subject: referenceParam({ expression: 'Procedure.subject', description: 'The patient the procedure was performed on' }, 'patient_id', ['Patient']),
    encounter: referenceParam({ expression: 'Procedure.encounter', description: 'The encounter the procedure was performed in' }, 'encounter_id', ['Encounter']),
    // The start of the performance: the instant of a performedDateTime, the start of a performedPeriod.
    date: dateParam({ expression: 'Procedure.performed', description: 'When the procedure was performed (its start)' }, 'timestamp', 'start_at'),
    performer: referenceParam({ expression: 'Procedure.performer.actor', description: 'The practitioner who performed the procedure' }, 'provider_id', ['Practitioner']),
    status: tokenParam({ expression: 'Procedure.status', description: 'preparation | in-progress | not-done | on-hold | stopped | completed | entered-in-error | unknown' },
      { code: 'status', system: { fixed: 'http://hl7.org/fhir/event-status' }, codes: PROCEDURE_STATUS }),
  },
});
