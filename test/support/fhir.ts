// Realistic dental FHIR fixtures, built by small factories.
let counter = 0;

/** A dental practice's patient, with elements that have columns and elements that do not. */
export function dentalPatient(overrides: Record<string, unknown> = {}) {
  counter += 1;
  return {
    resourceType: 'Patient',
    identifier: [
      { use: 'official', type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }] }, system: 'urn:oid:2.16.840.1.113883.3.9999.1', value: `MRN-${100000 + counter}` },
      { system: 'https://payer.example/member-id', value: `DDX${counter}44871` },
    ],
    active: true,
    name: [{ use: 'official', family: 'Okafor', given: ['Adaeze', 'Nkem'], prefix: ['Ms'] }, { use: 'nickname', given: ['Ada'] }],
    telecom: [
      { system: 'phone', value: '+1 415 555 0132', use: 'mobile' },
      { system: 'email', value: `adaeze.okafor${counter}@example.org` },
    ],
    gender: 'female',
    birthDate: '1987-06-14',
    address: [{ use: 'home', type: 'physical', line: ['1200 Valencia Street', 'Apt 4'], city: 'San Francisco', state: 'CA', postalCode: '94110', country: 'US' }],
    maritalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-MaritalStatus', code: 'M' }] },
    communication: [{ language: { coding: [{ system: 'urn:ietf:bcp:47', code: 'en-US' }] }, preferred: true }],
    extension: [{ url: 'http://example.org/fhir/StructureDefinition/dental-anxiety-level', valueCode: 'moderate' }],
    ...overrides,
  };
}

/** The resource without the server-managed id and meta. */
export function content(resource: Record<string, unknown>) {
  const { id: _id, meta: _meta, ...rest } = resource;
  return rest;
}
