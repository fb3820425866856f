// fhir4.Patient ↔ patients, patient_identifiers, patient_addresses (https://hl7.org/fhir/R4/patient.html).
// telecom comes from the contact columns, communication from preferred_language, deceased and
// active from status.
import { codeTable } from '../codes.ts';
import { calendarDate, compact, defineMapping, type ResourceContent, type Row } from '../mapping.ts';
import { dateParam, stringParam, tokenParam } from '../search/declarations.ts';

const V2_IDENTIFIER_TYPE = 'http://terminology.hl7.org/CodeSystem/v2-0203';
const BCP47 = 'urn:ietf:bcp:47';
const IDENTIFIERS = { table: 'patient_identifiers', foreignKey: 'patient_id' };
const ADDRESSES = { table: 'patient_addresses', foreignKey: 'patient_id' };

export const GENDER = codeTable({ male: 'MALE', female: 'FEMALE', other: 'OTHER', unknown: 'UNKNOWN' });
const ADDRESS_USE = codeTable({ home: 'HOME', work: 'WORK', temp: 'TEMP', old: 'OLD', billing: 'BILLING' });
const ADDRESS_TYPE = codeTable({ postal: 'POSTAL', physical: 'PHYSICAL', both: 'BOTH' });
/** v2-0203 identifier types that the schema's identifier systems stand for; other types are OTHER. */
const IDENTIFIER_TYPE_TO_SYSTEM: Record<string, string> = { MR: 'MRN', MB: 'INSURANCE_MEMBER', NI: 'NATIONAL_ID' };
const IDENTIFIER_TYPE = codeTable(IDENTIFIER_TYPE_TO_SYSTEM);

function identifierToRow(identifier: fhir4.Identifier): Row {
  const typeCode = identifier.type?.coding?.find((coding) => coding.system === V2_IDENTIFIER_TYPE)?.code;
  return {
    system: (typeCode && IDENTIFIER_TYPE_TO_SYSTEM[typeCode]) ?? 'OTHER',
    system_uri: identifier.system ?? null,
    value: identifier.value ?? '',
    is_primary: identifier.use === 'official',
  };
}

function rowToIdentifier(row: Row): fhir4.Identifier {
  const typeCode = IDENTIFIER_TYPE.toCode(row.system);
  return {
    use: row.is_primary ? 'official' : undefined,
    type: typeCode ? { coding: [{ system: V2_IDENTIFIER_TYPE, code: typeCode }] } : undefined,
    system: (row.system_uri as string | null) ?? undefined,
    value: row.value as string,
  };
}

function addressToRow(address: fhir4.Address, index: number): Row {
  const element = `Patient.address[${index}]`;
  return {
    use: address.use ? ADDRESS_USE.toColumn(address.use, `${element}.use`) : null,
    type: address.type ? ADDRESS_TYPE.toColumn(address.type, `${element}.type`) : null,
    line1: address.line?.[0] ?? null,
    line2: address.line?.[1] ?? null,
    city: address.city ?? null,
    state: address.state ?? null,
    postal_code: address.postalCode ?? null,
    country: address.country ?? null,
    period_start: calendarDate(address.period?.start),
    period_end: calendarDate(address.period?.end),
  };
}

function rowToAddress(row: Row): fhir4.Address {
  return {
    use: ADDRESS_USE.toCode(row.use) as fhir4.Address['use'],
    type: ADDRESS_TYPE.toCode(row.type) as fhir4.Address['type'],
    line: [row.line1, row.line2].filter((line): line is string => typeof line === 'string'),
    city: row.city as string | undefined,
    state: row.state as string | undefined,
    postalCode: row.postal_code as string | undefined,
    country: row.country as string | undefined,
    period: { start: row.period_start as string | undefined, end: row.period_end as string | undefined },
  };
}

function status(patient: ResourceContent<fhir4.Patient>): string {
  if (patient.deceasedBoolean === true || patient.deceasedDateTime) return 'DECEASED';
  return patient.active === false ? 'INACTIVE' : 'ACTIVE';
}

function telecomColumns(telecom: fhir4.ContactPoint[] = []): Row {
  const phone = (use: fhir4.ContactPoint['use']) => telecom.find((c) => c.system === 'phone' && c.use === use)?.value;
  return {
    contact_email: telecom.find((c) => c.system === 'email')?.value ?? null,
    phone_home: phone('home') ?? null,
    phone_mobile: phone('mobile') ?? telecom.find((c) => c.system === 'phone' && !c.use)?.value ?? null,
  };
}

export const patientMapping = defineMapping<fhir4.Patient>({
  type: 'Patient',
  table: 'patients',
  children: [IDENTIFIERS, ADDRESSES],
  softDelete: true,
  provenance: true,

  toRows(patient) {
    const name = patient.name?.find((n) => n.use === 'official') ?? patient.name?.[0];
    const language = (patient.communication?.find((c) => c.preferred) ?? patient.communication?.[0])?.language;
    return {
      row: {
        first_name: name?.given?.[0] ?? null,
        last_name: name?.family ?? null,
        dob: calendarDate(patient.birthDate),
        sex_at_birth: patient.gender ? GENDER.toColumn(patient.gender, 'Patient.gender') : null,
        ...telecomColumns(patient.telecom),
        preferred_language: language?.coding?.find((c) => c.system === BCP47)?.code ?? null,
        status: status(patient),
        deceased_at: patient.deceasedDateTime ?? null,
      },
      children: {
        patient_identifiers: (patient.identifier ?? []).map(identifierToRow),
        patient_addresses: (patient.address ?? []).map(addressToRow),
      },
    };
  },

  toResource({ row, children }) {
    const deceased = row.status === 'DECEASED';
    return compact({
      resourceType: 'Patient' as const,
      identifier: (children.patient_identifiers ?? []).map(rowToIdentifier),
      active: deceased ? undefined : row.status === 'ACTIVE',
      name: [{ family: row.last_name as string | undefined, given: row.first_name ? [row.first_name as string] : undefined }],
      telecom: [
        row.phone_home ? { system: 'phone' as const, value: row.phone_home as string, use: 'home' as const } : undefined,
        row.phone_mobile ? { system: 'phone' as const, value: row.phone_mobile as string, use: 'mobile' as const } : undefined,
        row.contact_email ? { system: 'email' as const, value: row.contact_email as string } : undefined,
      ].filter((c) => c !== undefined),
      gender: GENDER.toCode(row.sex_at_birth) as fhir4.Patient['gender'],
      birthDate: row.dob as string | undefined,
      deceasedDateTime: deceased && row.deceased_at ? new Date(row.deceased_at as string).toISOString() : undefined,
      deceasedBoolean: deceased && !row.deceased_at ? true : undefined,
      address: (children.patient_addresses ?? []).map(rowToAddress),
      communication: row.preferred_language
        ? [{ language: { coding: [{ system: BCP47, code: row.preferred_language as string }] }, preferred: true }]
        : undefined,
    });
  },

  search: {
    name: stringParam({ expression: 'Patient.name', description: 'A portion of the given or family name' }, 'first_name', 'last_name'),
    family: stringParam({ expression: 'Patient.name.family', description: 'A portion of the family name' }, 'last_name'),
    given: stringParam({ expression: 'Patient.name.given', description: 'A portion of the given name' }, 'first_name'),
    birthdate: dateParam({ expression: 'Patient.birthDate', description: 'The date of birth' }, 'date', 'dob'),
    gender: tokenParam({ expression: 'Patient.gender', description: 'Administrative gender' },
      { code: 'sex_at_birth', system: { fixed: 'http://hl7.org/fhir/administrative-gender' }, codes: GENDER }),
    identifier: tokenParam({ expression: 'Patient.identifier', description: 'An identifier of the patient' },
      { code: { ...IDENTIFIERS, column: 'value' }, system: { ...IDENTIFIERS, column: 'system_uri' },
        identifierType: { column: { ...IDENTIFIERS, column: 'system' }, system: V2_IDENTIFIER_TYPE, codes: IDENTIFIER_TYPE } }),
    email: tokenParam({ expression: "Patient.telecom.where(system='email')", description: 'An email address' }, { code: 'contact_email' }),
    language: tokenParam({ expression: 'Patient.communication.language', description: 'Preferred language' },
      { code: 'preferred_language', system: { fixed: BCP47 } }),
    'address-city': stringParam({ expression: 'Patient.address.city', description: 'A city of an address' }, { ...ADDRESSES, column: 'city' }),
    'address-postalcode': stringParam({ expression: 'Patient.address.postalCode', description: 'A postal code of an address' }, { ...ADDRESSES, column: 'postal_code' }),
  },
});
