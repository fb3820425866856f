// Realistic dental FHIR fixtures, built by small factories, and the FHIR calls and assertions the tests share.
import assert from 'node:assert/strict';

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

export type Json = Record<string, any>;
export type SearchBundle = { entry?: { resource: Json; search: { mode: string } }[]; link?: { relation: string; url: string }[]; total?: number };

/**
 * FHIR calls as one client of a test app. `current` is read at each call, so the helpers can be
 * made before the app and token exist (in a describe body) and used once they do.
 */
export function fhirApi(current: () => { app: { request: import('supertest').Agent | ReturnType<typeof import('supertest')> }; token: string }) {
  const as = () => current();
  const api = {
    get: (url: string) => as().app.request.get(`/fhir${url}`).auth(as().token, { type: 'bearer' }),
    post: (url: string, body: unknown) => as().app.request.post(`/fhir${url}`).auth(as().token, { type: 'bearer' }).type('application/fhir+json').send(JSON.stringify(body)),
    put: (url: string, body: unknown) => as().app.request.put(`/fhir${url}`).auth(as().token, { type: 'bearer' }).type('application/fhir+json').send(JSON.stringify(body)),
    delete: (url: string) => as().app.request.delete(`/fhir${url}`).auth(as().token, { type: 'bearer' }),
    /** Creates the resource and returns it as stored (201 asserted). */
    async created(body: Json): Promise<Json> {
      const res = await api.post(`/${body.resourceType}`, body);
      if (res.status !== 201) throw new Error(`expected 201, got ${res.status}: ${JSON.stringify(res.body)}`);
      return res.body;
    },
    /** The search's bundle (200 asserted). */
    async bundle(query: string): Promise<SearchBundle> {
      const res = await api.get(query);
      if (res.status !== 200) throw new Error(`expected 200, got ${res.status}: ${JSON.stringify(res.body)}`);
      return res.body;
    },
    /** The ids of the search's matches, sorted. */
    async search(query: string): Promise<string[]> {
      return ((await api.bundle(query)).entry ?? []).filter((e) => e.search.mode === 'match').map((e) => e.resource.id as string).sort();
    },
  };
  return api;
}

/**
 * An assertion that a write is refused with `status`, an OperationOutcome naming `expression`,
 * and that `stateOf` (e.g. counts of versions and rows) is what it was before.
 */
export function refusalAssertion(stateOf: () => Promise<unknown>) {
  return async (write: () => Promise<{ status: number; body: Json }>, status: number, expression?: string) => {
    const before = await stateOf();
    const res = await write();
    assert.equal(res.status, status, JSON.stringify(res.body));
    assert.equal(res.body.resourceType, 'OperationOutcome');
    if (expression) assert.ok(res.body.issue.some((i: { expression?: string[] }) => i.expression?.includes(expression)), JSON.stringify(res.body));
    assert.deepEqual(await stateOf(), before);
    return res;
  };
}
