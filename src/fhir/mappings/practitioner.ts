// fhir4.Practitioner ↔ a clinician member of the tenant (https://hl7.org/fhir/R4/practitioner.html):
// the person is a users row, shared by every tenant the user belongs to (name, email, language);
// the membership a user_tenants row (clinician type, NPI, active). Both are read and written
// through the view fhir_practitioners (migrations/017); the id is the user's, which is what
// Encounter, Procedure and Observation references name.
//
// A user is identified by an email address, unique on the platform: a Practitioner needs one
// (telecom with system "email"), and one whose email another user already has is 409. The
// clinician type is the qualification, as a NUCC provider taxonomy code; other members of the
// tenant (front desk, administrators) are not Practitioners.
import { BOOLEAN, codeTable } from '../codes.ts';
import { codingIn, compact, defineMapping, required, telecomFrom, telecomValue } from '../mapping.ts';
import { tokenParam, wordsParam } from '../search/declarations.ts';

export const NPI_SYSTEM = 'http://hl7.org/fhir/sid/us-npi';
export const NUCC_SYSTEM = 'http://nucc.org/provider-taxonomy';
const BCP47 = 'urn:ietf:bcp:47';

/** NUCC provider taxonomy ↔ the clinician values of user_tenants.user_type (migrations/017 lists the same). */
export const CLINICIAN_TYPE = codeTable({ '122300000X': 'DENTIST', '124Q00000X': 'HYGIENIST', '126800000X': 'ASSISTANT' });
const CLINICIAN_DISPLAY: Record<string, string> = { '122300000X': 'Dentist', '124Q00000X': 'Dental Hygienist', '126800000X': 'Dental Assistant' };

/** users.full_name holds one name as text: the text, or the parts in order. */
function fullName(name: fhir4.HumanName | undefined): string | null {
  if (!name) return null;
  const text = name.text ?? [...(name.prefix ?? []), ...(name.given ?? []), name.family, ...(name.suffix ?? [])].filter(Boolean).join(' ');
  return text === '' ? null : text;
}

export const practitionerMapping = defineMapping<fhir4.Practitioner>({
  type: 'Practitioner',
  table: 'fhir_practitioners',
  children: [],
  softDelete: false,
  provenance: false,

  toRows(practitioner) {
    const index = practitioner.qualification?.findIndex((q) => codingIn(q.code, NUCC_SYSTEM)) ?? -1;
    const clinicianType = index < 0 ? undefined : codingIn(practitioner.qualification![index]!.code, NUCC_SYSTEM)!.code;
    return {
      row: {
        email: required(telecomValue(practitioner.telecom, 'email'), 'Practitioner.telecom',
          'a practitioner is a user of the server, known by an email address (a telecom with system "email")'),
        full_name: fullName(practitioner.name?.[0]),
        preferred_locale: codingIn(practitioner.communication, BCP47)?.code ?? null,
        user_type: CLINICIAN_TYPE.toColumn(
          required(clinicianType, 'Practitioner.qualification', `every practitioner is a dentist, hygienist or assistant (a qualification coded in ${NUCC_SYSTEM})`),
          `Practitioner.qualification[${index}].code`),
        npi: practitioner.identifier?.find((identifier) => identifier.system === NPI_SYSTEM)?.value ?? null,
        // A practitioner is active unless said otherwise (the column's default).
        active: practitioner.active ?? true,
      },
      children: {},
    };
  },

  toResource({ row }) {
    const clinicianType = CLINICIAN_TYPE.toCode(row.user_type);
    return compact({
      resourceType: 'Practitioner' as const,
      identifier: row.npi ? [{ system: NPI_SYSTEM, value: row.npi as string }] : undefined,
      active: row.active as boolean,
      name: row.full_name ? [{ text: row.full_name as string }] : undefined,
      telecom: telecomFrom([['email', row.email]]),
      qualification: clinicianType
        ? [{ code: { coding: [{ system: NUCC_SYSTEM, code: clinicianType, display: CLINICIAN_DISPLAY[clinicianType] }] } }]
        : undefined,
      communication: row.preferred_locale ? [{ coding: [{ system: BCP47, code: row.preferred_locale as string }] }] : undefined,
    });
  },

  search: {
    // full_name is the whole name as text: a search matches the start of any of its words.
    name: wordsParam({ expression: 'Practitioner.name', description: 'A portion of the name' }, 'full_name'),
    identifier: tokenParam({ expression: 'Practitioner.identifier', description: 'A practitioner\'s identifier (the NPI)' },
      { code: 'npi', system: { fixed: NPI_SYSTEM } }),
    email: tokenParam({ expression: "Practitioner.telecom.where(system='email')", description: 'An email address' }, { code: 'email' }),
    active: tokenParam({ expression: 'Practitioner.active', description: 'Whether the practitioner record is active' }, { code: 'active', codes: BOOLEAN }),
    communication: tokenParam({ expression: 'Practitioner.communication', description: 'One of the languages that the practitioner can communicate with' },
      { code: 'preferred_locale', system: { fixed: BCP47 } }),
  },
});
