// The Location, Encounter and Procedure mappings (src/fhir/mappings): what a dental practice
// writes reads back equal, lands in the right columns, is found by every declared search
// parameter, and what the schema cannot hold is refused with 422 and changes nothing.
import assert from 'node:assert/strict';
import { ownerQuery } from './support/database.ts';
import { memberUser, startTestApp, tenantWithToken, type TestApp } from './support/app.ts';
import { content, dentalPatient, fhirApi, refusalAssertion, type Json, type SearchBundle } from './support/fhir.ts';

const CUSP_LOCATION_TYPE = 'https://cusp.dental/fhir/CodeSystem/location-type';
const CUSP_ENCOUNTER_TYPE = 'https://cusp.dental/fhir/CodeSystem/encounter-type';
const ACT_CODE = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
const CDT = 'http://www.ada.org/cdt';
const EX_TOOTH = 'http://terminology.hl7.org/CodeSystem/ex-tooth';
const FDI_SURFACE = 'http://terminology.hl7.org/CodeSystem/FDI-surface';

type Bundle = SearchBundle;

// ---- realistic dental fixtures -----------------------------------------------------------
// An override of undefined removes the element (the factories return what JSON would carry).

const json = (value: Json): Json => JSON.parse(JSON.stringify(value));

function operatory(overrides: Json = {}): Json {
  return json({
    resourceType: 'Location',
    status: 'active',
    name: 'Mission Street Dental — Operatory 3',
    alias: ['Op 3'],
    description: 'Operatory with intraoral sensor and nitrous oxide',
    mode: 'instance',
    type: [{ coding: [{ system: CUSP_LOCATION_TYPE, code: 'clinic', display: 'Clinic' }] }],
    telecom: [
      { system: 'phone', value: '+1 415 555 0190', use: 'work' },
      { system: 'email', value: 'frontdesk@missionstreetdental.example' },
      { system: 'fax', value: '+1 415 555 0191' },
    ],
    address: { use: 'work', line: ['2390 Mission Street', 'Suite 200'], city: 'San Francisco', state: 'CA', postalCode: '94110', country: 'US' },
    physicalType: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/location-physical-type', code: 'ro', display: 'Room' }] },
    hoursOfOperation: [{ daysOfWeek: ['mon', 'tue', 'wed', 'thu', 'fri'], openingTime: '08:00:00', closingTime: '17:00:00' }],
    ...overrides,
  });
}

function examEncounter(refs: { patient: string; location: string; practitioner: string }, overrides: Json = {}): Json {
  return json({
    resourceType: 'Encounter',
    status: 'finished',
    class: { system: ACT_CODE, code: 'AMB', display: 'ambulatory' },
    type: [{ coding: [{ system: CUSP_ENCOUNTER_TYPE, code: 'exam', display: 'Examination' }], text: 'Periodic oral evaluation' }],
    subject: { reference: `Patient/${refs.patient}`, display: 'Adaeze Okafor' },
    participant: [{
      type: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'PPRF', display: 'primary performer' }] }],
      individual: { reference: `Practitioner/${refs.practitioner}` },
    }],
    period: { start: '2024-05-01T09:30:00Z', end: '2024-05-01T10:15:00Z' },
    reasonCode: [{ text: 'Six-month recall; sensitivity lower left' }],
    location: [{ location: { reference: `Location/${refs.location}` }, status: 'completed' }],
    ...overrides,
  });
}

function compositeRestoration(refs: { patient: string; encounter: string; practitioner: string }, overrides: Json = {}): Json {
  // Two surfaces (MO) of a posterior tooth: D2392. (D2391 is the one-surface code.)
  return json({
    resourceType: 'Procedure',
    status: 'completed',
    code: { coding: [{ system: CDT, code: 'D2392', display: 'resin-based composite - two surfaces, posterior' }], text: 'Composite MO 36' },
    subject: { reference: `Patient/${refs.patient}` },
    encounter: { reference: `Encounter/${refs.encounter}` },
    performedPeriod: { start: '2024-05-01T09:45:00Z', end: '2024-05-01T10:10:00Z' },
    performer: [{ actor: { reference: `Practitioner/${refs.practitioner}` } }],
    reasonCode: [{ coding: [{ system: 'http://snomed.info/sct', code: '80967001', display: 'Dental caries' }] }],
    bodySite: [
      { coding: [{ system: EX_TOOTH, code: '36' }], text: 'lower left first molar' },
      { coding: [{ system: FDI_SURFACE, code: 'MO', display: 'Mesioclusal' }] },
    ],
    note: [{ text: 'Caries ICDAS 3 on 36 MO; rubber dam; shade A2.' }],
    ...overrides,
  });
}

describe('FHIR mappings: Location, Encounter, Procedure', () => {
  let app: TestApp;
  let token: string;
  let tenantId: string;
  let practitioner: string;
  let patient: string;

  const api = fhirApi(() => ({ app, token }));
  const { created, search } = api;
  const row = (table: string, id: string) => app.services.db.tenant(tenantId, (trx) => trx(table).where({ id }).first());
  const versionCount = () => app.services.db.tenant(tenantId, (trx) => trx('resource_versions').count({ n: '*' })).then((r) => Number(r[0]?.n));
  const refused = refusalAssertion(versionCount);

  before(async () => {
    app = await startTestApp();
    ({ token, tenantId } = await tenantWithToken(app, ['system/*.*']));
    practitioner = await memberUser(app, tenantId, { email: `dr.chen.${Date.now()}@missionstreetdental.example`, fullName: 'Dr Mei Chen', userType: 'DENTIST' });
    patient = (await created(dentalPatient())).id;
  });
  after(() => app.close());

  describe('Location', () => {
    it('reads back what was written; the columns hold name, type, address, telecom and status', async () => {
      const written = operatory();
      const location = await created(written);
      assert.deepEqual(content(location), written);
      assert.deepEqual(content((await api.get(`/Location/${location.id}`).expect(200)).body), written);
      const stored = await row('locations', location.id);
      assert.equal(stored.name, 'Mission Street Dental — Operatory 3');
      assert.equal(stored.type, 'CLINIC');
      assert.deepEqual(stored.address, written.address);
      assert.equal(stored.fhir_address_city, 'San Francisco');
      assert.equal(stored.phone, '+1 415 555 0190');
      assert.equal(stored.email, 'frontdesk@missionstreetdental.example');
      assert.equal(stored.active, true);
    });

    it('a resource of column-backed elements only leaves no residual', async () => {
      const written = {
        resourceType: 'Location', status: 'inactive', name: 'Valencia Street Annex',
        type: [{ coding: [{ system: CUSP_LOCATION_TYPE, code: 'teaching-clinic' }] }],
        telecom: [{ system: 'phone', value: '+1 415 555 0100' }, { system: 'email', value: 'annex@example.org' }],
        address: { line: ['1200 Valencia Street'], city: 'San Francisco', postalCode: '94110' },
      };
      const location = await created(written);
      assert.equal((await row('locations', location.id)).fhir_residual, null);
      assert.deepEqual(content(location), written);
    });

    it('update changes the columns and keeps a timezone that only SQL writes', async () => {
      const location = await created(operatory({ name: 'Mission Street Dental — Operatory 4' }));
      await ownerQuery("update locations set timezone = 'America/Los_Angeles' where tenant_id = $1 and id = $2", [tenantId, location.id]);
      const changed = operatory({ id: location.id, name: 'Mission Street Dental — Operatory 4 (closed)', status: 'inactive', telecom: [{ system: 'phone', value: '+1 415 555 0199' }] });
      const updated = (await api.put(`/Location/${location.id}`, changed).expect(200)).body;
      assert.equal(updated.meta.versionId, '3');
      const { id: _id, ...expected } = changed;
      assert.deepEqual(content((await api.get(`/Location/${location.id}`).expect(200)).body), expected);
      const stored = await row('locations', location.id);
      assert.equal(stored.active, false);
      assert.equal(stored.email, null);
      assert.equal(stored.timezone, 'America/Los_Angeles');
    });

    it('search by name, address-city, status and type', async () => {
      const fresh = await tenantWithToken(app, ['system/*.*']);
      const post = async (body: Json) => (await app.request.post('/fhir/Location').auth(fresh.token, { type: 'bearer' }).type('application/fhir+json').send(JSON.stringify(body)).expect(201)).body.id as string;
      const find = async (query: string) => {
        const res = await app.request.get(`/fhir/Location${query}`).auth(fresh.token, { type: 'bearer' }).expect(200);
        return ((res.body as Bundle).entry ?? []).map((e) => e.resource.id as string).sort();
      };
      const mission = await post(operatory());
      const oakland = await post(operatory({ name: 'Lakeshore Dental', status: 'inactive', address: { city: 'Oakland', state: 'CA' }, type: [{ coding: [{ system: CUSP_LOCATION_TYPE, code: 'virtual' }] }] }));
      assert.deepEqual(await find('?name=mission'), [mission]);
      assert.deepEqual(await find('?name:contains=operatory'), [mission]);
      assert.deepEqual(await find('?address-city=san%20fran'), [mission]);
      assert.deepEqual(await find('?address-city=OAK'), [oakland]);
      assert.deepEqual(await find('?status=active'), [mission]);
      assert.deepEqual(await find('?status=http://hl7.org/fhir/location-status|inactive'), [oakland]);
      assert.deepEqual(await find('?status=suspended'), []);
      assert.deepEqual(await find(`?type=${CUSP_LOCATION_TYPE}|clinic`), [mission]);
      assert.deepEqual(await find('?type=virtual'), [oakland]);
    });

    it('a status the schema cannot hold (suspended) and a missing name are 422, and nothing is written', async () => {
      await refused(() => api.post('/Location', operatory({ status: 'suspended' })), 422, 'Location.status');
      const { name: _name, ...nameless } = operatory();
      await refused(() => api.post('/Location', nameless), 422, 'Location.name');
      await refused(() => api.post('/Location', operatory({ type: [{ coding: [{ system: CUSP_LOCATION_TYPE, code: 'spa' }] }] })), 422, 'Location.type');
    });
  });

  describe('Encounter', () => {
    let location: string;
    let refs: { patient: string; location: string; practitioner: string };
    before(async () => {
      location = (await created(operatory())).id;
      refs = { patient, location, practitioner };
    });

    it('reads back what was written; the columns hold the visit', async () => {
      const written = examEncounter(refs);
      const encounter = await created(written);
      assert.deepEqual(content(encounter), written);
      assert.deepEqual(content((await api.get(`/Encounter/${encounter.id}`).expect(200)).body), written);
      const stored = await row('encounters', encounter.id);
      assert.equal(stored.status, 'COMPLETED');
      assert.equal(stored.encounter_type, 'EXAM');
      assert.equal(stored.patient_id, patient);
      assert.equal(stored.provider_id, practitioner);
      assert.equal(stored.location_id, location);
      assert.equal(stored.check_in_at.toISOString(), '2024-05-01T09:30:00.000Z');
      assert.equal(stored.check_out_at.toISOString(), '2024-05-01T10:15:00.000Z');
      assert.equal(stored.scheduled_start_at, null);
      assert.equal(stored.reason, 'Six-month recall; sensitivity lower left');
    });

    it('a resource of column-backed elements only leaves no residual', async () => {
      const written = {
        resourceType: 'Encounter', status: 'in-progress', class: { system: ACT_CODE, code: 'AMB' },
        type: [{ coding: [{ system: CUSP_ENCOUNTER_TYPE, code: 'emergency' }] }],
        subject: { reference: `Patient/${patient}` },
        participant: [{ individual: { reference: `Practitioner/${practitioner}` } }],
        period: { start: '2024-05-02T14:05:00Z' },
        reasonCode: [{ text: 'Fractured cusp 26' }],
        location: [{ location: { reference: `Location/${location}` } }],
      };
      const encounter = await created(written);
      assert.equal((await row('encounters', encounter.id)).fhir_residual, null);
      assert.deepEqual(content(encounter), written);
    });

    it('a planned visit keeps its period in scheduled_start_at; checking in keeps the planned time', async () => {
      const planned = examEncounter(refs, { status: 'planned', period: { start: '2024-11-04T15:00:00Z', end: '2024-11-04T15:45:00Z' } });
      const encounter = await created(planned);
      let stored = await row('encounters', encounter.id);
      assert.equal(stored.scheduled_start_at.toISOString(), '2024-11-04T15:00:00.000Z');
      assert.equal(stored.check_in_at, null);
      assert.equal(stored.check_out_at, null);
      assert.equal(stored.status, 'SCHEDULED');
      assert.deepEqual(content((await api.get(`/Encounter/${encounter.id}`)).body), planned);

      const arrived = examEncounter(refs, { id: encounter.id, status: 'in-progress', period: { start: '2024-11-04T15:07:00Z' } });
      await api.put(`/Encounter/${encounter.id}`, arrived).expect(200);
      stored = await row('encounters', encounter.id);
      assert.equal(stored.status, 'IN_PROGRESS');
      assert.equal(stored.check_in_at.toISOString(), '2024-11-04T15:07:00.000Z');
      assert.equal(stored.scheduled_start_at.toISOString(), '2024-11-04T15:00:00.000Z');
      const { id: _id, ...expected } = arrived;
      assert.deepEqual(content((await api.get(`/Encounter/${encounter.id}`)).body), expected);
    });

    it('rows written by other writers render from the columns (the table wins; NO_SHOW reads as cancelled)', async () => {
      const encounter = await created(examEncounter(refs, { status: 'in-progress', period: { start: '2024-05-03T08:00:00Z' } }));
      await ownerQuery("update encounters set status = 'COMPLETED', check_out_at = '2024-05-03T08:40:00Z' where tenant_id = $1 and id = $2", [tenantId, encounter.id]);
      const read = (await api.get(`/Encounter/${encounter.id}`).expect(200)).body;
      assert.equal(read.status, 'finished');
      assert.deepEqual(read.period, { start: '2024-05-03T08:00:00Z', end: '2024-05-03T08:40:00Z' });
      assert.equal(read.meta.versionId, '2');

      await ownerQuery("update encounters set status = 'NO_SHOW', check_in_at = null, check_out_at = null, scheduled_start_at = '2024-05-06T10:00:00Z' where tenant_id = $1 and id = $2", [tenantId, encounter.id]);
      const noShow = (await api.get(`/Encounter/${encounter.id}`).expect(200)).body;
      assert.equal(noShow.status, 'cancelled');
      assert.deepEqual(noShow.period, { start: '2024-05-06T10:00:00Z' });
      // A search for the code a row reads as finds it.
      assert.ok((await search(`/Encounter?_id=${encounter.id}&status=cancelled`)).includes(encounter.id));
      assert.deepEqual(await search(`/Encounter?_id=${encounter.id}&status=finished`), []);
    });

    it('delete is soft: 410 afterwards, the row kept with deleted_at', async () => {
      const encounter = await created(examEncounter(refs));
      await api.delete(`/Encounter/${encounter.id}`).expect(204);
      await api.get(`/Encounter/${encounter.id}`).expect(410);
      assert.ok((await row('encounters', encounter.id)).deleted_at);
    });

    it('deleting a location an encounter still refers to is 409, and the location stays', async () => {
      const place = (await created(operatory())).id;
      await created(examEncounter({ ...refs, location: place }));
      const res = await api.delete(`/Location/${place}`).expect(409);
      assert.equal(res.body.issue[0].code, 'conflict');
      await api.get(`/Location/${place}`).expect(200);
    });

    describe('search', () => {
      const ids: Record<string, string> = {};
      let other: string;
      before(async () => {
        other = (await created(dentalPatient({ name: [{ family: 'Brennan', given: ['Liam'] }] }))).id;
        ids.exam = (await created(examEncounter(refs, { period: { start: '2030-03-04T09:00:00Z', end: '2030-03-04T09:40:00Z' } }))).id;
        ids.hygiene = (await created(examEncounter({ ...refs, patient: other }, {
          status: 'planned', type: [{ coding: [{ system: CUSP_ENCOUNTER_TYPE, code: 'hygiene' }] }],
          period: { start: '2030-03-05T13:00:00Z' }, participant: undefined, location: undefined,
        }))).id;
      });
      // Only the two encounters that start in 2030 (the other tests' encounters are in 2024).
      const in2030 = (query: string) => search(`/Encounter?date=sa2029-12-31&date=lt2031-01-01&${query}`);

      it('patient and subject: Patient/<id>, a bare id, the :Patient modifier', async () => {
        assert.deepEqual(await in2030(`patient=Patient/${patient}`), [ids.exam]);
        assert.deepEqual(await in2030(`patient=${other}`), [ids.hygiene]);
        assert.deepEqual(await in2030(`subject=Patient/${other}`), [ids.hygiene]);
        assert.deepEqual(await in2030(`subject:Patient=${patient}`), [ids.exam]);
      });
      it('chained through the patient: subject:Patient.family, patient.family', async () => {
        assert.deepEqual(await in2030('subject:Patient.family=brenn'), [ids.hygiene]);
        assert.deepEqual(await in2030('patient.family=Okafor'), [ids.exam]);
      });
      it('status and type, with and without their systems', async () => {
        assert.deepEqual(await in2030('status=finished'), [ids.exam]);
        assert.deepEqual(await in2030('status=http://hl7.org/fhir/encounter-status|planned'), [ids.hygiene]);
        assert.deepEqual(await in2030('status=arrived'), []);
        assert.deepEqual(await in2030('type=hygiene'), [ids.hygiene]);
        assert.deepEqual(await in2030(`type=${CUSP_ENCOUNTER_TYPE}|exam`), [ids.exam]);
        assert.deepEqual(await in2030('type=http://snomed.info/sct|exam'), []);
      });
      it('date: the period (check-in to check-out), a planned visit by its scheduled start', async () => {
        assert.deepEqual(await in2030('date=2030-03-04'), [ids.exam]);
        assert.deepEqual(await in2030('date=ge2030-03-05T00:00:00Z'), [ids.hygiene]);
        // The planned visit has no end: its period does not lie within March.
        assert.deepEqual(await in2030('date=2030-03'), [ids.exam]);
        assert.deepEqual(await in2030('date=le2030-03-04T23:59:59Z'), [ids.exam]);
      });
      it('location, practitioner and participant', async () => {
        assert.deepEqual(await in2030(`location=Location/${location}`), [ids.exam]);
        assert.deepEqual(await in2030(`practitioner=Practitioner/${practitioner}`), [ids.exam]);
        assert.deepEqual(await in2030(`participant=${practitioner}`), [ids.exam]);
        assert.deepEqual(await in2030('practitioner:missing=true'), [ids.hygiene]);
      });
      it('_has: patients with a finished encounter', async () => {
        const patients = await search('/Patient?_has:Encounter:patient:status=finished');
        assert.ok(patients.includes(patient));
        assert.ok(!patients.includes(other));
        assert.deepEqual(await search(`/Patient?_has:Encounter:subject:type=hygiene&_id=${other}`), [other]);
      });
    });

    describe('what the schema cannot hold is 422, and nothing is written', () => {
      it('a status with no seed value: arrived, triaged, onleave, entered-in-error, unknown', async () => {
        for (const status of ['arrived', 'triaged', 'onleave', 'entered-in-error', 'unknown']) {
          await refused(() => api.post('/Encounter', examEncounter(refs, { status })), 422, 'Encounter.status');
        }
      });
      it('an update to such a status leaves the encounter as it was', async () => {
        const encounter = await created(examEncounter(refs));
        await refused(() => api.put(`/Encounter/${encounter.id}`, examEncounter(refs, { id: encounter.id, status: 'arrived' })), 422, 'Encounter.status');
        assert.equal((await api.get(`/Encounter/${encounter.id}`)).body.meta.versionId, '1');
      });
      it('a subject that is not a Patient of this server, or no subject', async () => {
        await refused(() => api.post('/Encounter', examEncounter(refs, { subject: { reference: `Group/${patient}` } })), 422, 'Encounter.subject');
        await refused(() => api.post('/Encounter', examEncounter(refs, { subject: { reference: 'Patient/adaeze-okafor' } })), 422, 'Encounter.subject');
        await refused(() => api.post('/Encounter', examEncounter(refs, { subject: { reference: `https://other.example/fhir/Patient/${patient}` } })), 422, 'Encounter.subject');
        await refused(() => api.post('/Encounter', examEncounter(refs, { subject: { display: 'Adaeze Okafor' } })), 422, 'Encounter.subject');
        await refused(() => api.post('/Encounter', examEncounter(refs, { subject: undefined })), 422, 'Encounter.subject');
      });
      it('a location or practitioner reference that is not one of this server', async () => {
        await refused(() => api.post('/Encounter', examEncounter(refs, { location: [{ location: { reference: 'Location/op-3' } }] })), 422, 'Encounter.location[0].location');
        await refused(() => api.post('/Encounter', examEncounter(refs, { participant: [{ individual: { reference: 'Practitioner/dr-chen' } }] })), 422, 'Encounter.participant[0].individual');
      });
      it('a type code the Cusp code system does not define', async () => {
        await refused(() => api.post('/Encounter', examEncounter(refs, { type: [{ coding: [{ system: CUSP_ENCOUNTER_TYPE, code: 'whitening' }] }] })), 422, 'Encounter.type');
      });
    });

    describe('tenants', () => {
      it("a reference to another tenant's patient is refused (4xx, not 500) and nothing is written", async () => {
        const foreign = await tenantWithToken(app, ['system/*.*']);
        const theirs = (await app.request.post('/fhir/Patient').auth(foreign.token, { type: 'bearer' }).type('application/fhir+json')
          .send(JSON.stringify(dentalPatient())).expect(201)).body.id;
        const before = await versionCount();
        const res = await api.post('/Encounter', examEncounter({ ...refs, patient: theirs }));
        assert.ok(res.status >= 400 && res.status < 500, `status ${res.status}: ${JSON.stringify(res.body)}`);
        assert.equal(await versionCount(), before);
      });

      it('a practitioner who is not a member of this tenant is refused (422) and nothing is written', async () => {
        const outsider = await app.services.db.platform(async (trx) => {
          const [user] = await trx('users').insert({ email: `dr.elsewhere.${Date.now()}@other.example`, full_name: 'Dr Elsewhere' }).returning('id');
          return user.id as string;
        });
        await refused(() => api.post('/Encounter', examEncounter({ ...refs, practitioner: outsider })), 422);
      });
    });
  });

  describe('Procedure', () => {
    let encounter: string;
    let refs: { patient: string; encounter: string; practitioner: string };
    before(async () => {
      const location = (await created(operatory())).id;
      encounter = (await created(examEncounter({ patient, location, practitioner }))).id;
      refs = { patient, encounter, practitioner };
    });

    it('reads back what was written; the columns hold CDT code, tooth, surface, times and note', async () => {
      const written = compositeRestoration(refs);
      const procedure = await created(written);
      assert.deepEqual(content(procedure), written);
      assert.deepEqual(content((await api.get(`/Procedure/${procedure.id}`).expect(200)).body), written);
      const stored = await row('procedures', procedure.id);
      assert.equal(stored.cdt_code, 'D2392');
      assert.equal(stored.status, 'COMPLETED');
      assert.equal(stored.tooth_number, '36');
      assert.equal(stored.surface, 'MO');
      assert.equal(stored.patient_id, patient);
      assert.equal(stored.encounter_id, encounter);
      assert.equal(stored.provider_id, practitioner);
      assert.equal(stored.start_at.toISOString(), '2024-05-01T09:45:00.000Z');
      assert.equal(stored.end_at.toISOString(), '2024-05-01T10:10:00.000Z');
      assert.equal(stored.notes, 'Caries ICDAS 3 on 36 MO; rubber dam; shade A2.');
    });

    it('a resource of column-backed elements only leaves no residual', async () => {
      const written = {
        resourceType: 'Procedure', status: 'completed',
        code: { coding: [{ system: CDT, code: 'D2391' }] },
        subject: { reference: `Patient/${patient}` },
        encounter: { reference: `Encounter/${encounter}` },
        performedDateTime: '2024-05-01T10:12:00Z',
        performer: [{ actor: { reference: `Practitioner/${practitioner}` } }],
        bodySite: [{ coding: [{ system: EX_TOOTH, code: '37' }] }, { coding: [{ system: FDI_SURFACE, code: 'O' }] }],
        note: [{ text: 'Sealed fissure caries 37 O.' }],
      };
      const procedure = await created(written);
      const stored = await row('procedures', procedure.id);
      assert.equal(stored.fhir_residual, null);
      assert.equal(stored.start_at.toISOString(), '2024-05-01T10:12:00.000Z');
      assert.equal(stored.end_at, null);
      assert.deepEqual(content(procedure), written);
    });

    it('a quadrant (an oral site that is not a tooth) rides in the residual; a partial date is its first instant', async () => {
      const written = compositeRestoration(refs, {
        code: { coding: [{ system: CDT, code: 'D4341', display: 'periodontal scaling and root planing - four or more teeth per quadrant' }] },
        bodySite: [{ coding: [{ system: EX_TOOTH, code: '3' }] }],
        performedPeriod: undefined, performedDateTime: '2024-05',
      });
      const procedure = await created(written);
      const stored = await row('procedures', procedure.id);
      assert.equal(stored.tooth_number, null);
      assert.equal(stored.start_at.toISOString(), '2024-05-01T00:00:00.000Z');
      assert.deepEqual(content((await api.get(`/Procedure/${procedure.id}`)).body), written);
    });

    it('update changes code, tooth, surface and status', async () => {
      const procedure = await created(compositeRestoration(refs, { status: 'in-progress' }));
      const changed = compositeRestoration(refs, {
        id: procedure.id, status: 'completed',
        code: { coding: [{ system: CDT, code: 'D2391', display: 'resin-based composite - one surface, posterior' }] },
        bodySite: [{ coding: [{ system: EX_TOOTH, code: '46' }] }, { coding: [{ system: FDI_SURFACE, code: 'O' }] }],
      });
      const updated = (await api.put(`/Procedure/${procedure.id}`, changed).expect(200)).body;
      assert.equal(updated.meta.versionId, '2');
      const { id: _id, ...expected } = changed;
      assert.deepEqual(content((await api.get(`/Procedure/${procedure.id}`)).body), expected);
      const stored = await row('procedures', procedure.id);
      assert.deepEqual([stored.cdt_code, stored.tooth_number, stored.surface, stored.status], ['D2391', '46', 'O', 'COMPLETED']);
    });

    describe('search', () => {
      const ids: Record<string, string> = {};
      let otherEncounter: string;
      before(async () => {
        const location = (await created(operatory())).id;
        otherEncounter = (await created(examEncounter({ patient, location, practitioner }, { status: 'in-progress', participant: undefined, period: { start: '2031-01-10T09:00:00Z' } }))).id;
        ids.restoration = (await created(compositeRestoration(refs, { performedPeriod: { start: '2031-01-09T09:45:00Z', end: '2031-01-09T10:10:00Z' } }))).id;
        ids.extraction = (await created(compositeRestoration({ ...refs, encounter: otherEncounter }, {
          status: 'in-progress', code: { coding: [{ system: CDT, code: 'D7140' }] }, performer: undefined,
          performedPeriod: undefined, performedDateTime: '2031-01-10T09:20:00Z', bodySite: [{ coding: [{ system: EX_TOOTH, code: '48' }] }],
        }))).id;
      });
      const in2031 = (query: string) => search(`/Procedure?date=2031&${query}`);

      it('code, with the CDT system or none; another system matches nothing', async () => {
        assert.deepEqual(await in2031('code=D2392'), [ids.restoration]);
        assert.deepEqual(await in2031(`code=${CDT}|D7140`), [ids.extraction]);
        assert.deepEqual(await in2031('code=http://snomed.info/sct|D7140'), []);
        assert.deepEqual(await in2031('code=D2392,D7140'), [ids.extraction, ids.restoration].sort());
      });
      it('patient and subject, encounter, performer', async () => {
        assert.deepEqual(await in2031(`patient=Patient/${patient}`), [ids.extraction, ids.restoration].sort());
        assert.deepEqual(await in2031(`subject=${patient}`), [ids.extraction, ids.restoration].sort());
        assert.deepEqual(await in2031(`encounter=Encounter/${otherEncounter}`), [ids.extraction]);
        assert.deepEqual(await in2031(`encounter=${encounter}`), [ids.restoration]);
        assert.deepEqual(await in2031(`performer=Practitioner/${practitioner}`), [ids.restoration]);
      });
      it('chained: encounter.status, subject:Patient.family', async () => {
        assert.deepEqual(await in2031('encounter.status=in-progress'), [ids.extraction]);
        assert.deepEqual(await in2031('encounter:Encounter.status=finished'), [ids.restoration]);
        assert.deepEqual(await in2031('subject:Patient.family=okafor'), [ids.extraction, ids.restoration].sort());
      });
      it('date: the start of the performance', async () => {
        assert.deepEqual(await search('/Procedure?date=2031-01-09'), [ids.restoration]);
        assert.deepEqual(await search('/Procedure?date=2031-01-10T09:20:00Z'), [ids.extraction]);
        assert.deepEqual(await search('/Procedure?date=gt2031-01-09T23:00:00Z'), [ids.extraction]);
      });
      it('status', async () => {
        assert.deepEqual(await in2031('status=completed'), [ids.restoration]);
        assert.deepEqual(await in2031('status=http://hl7.org/fhir/event-status|in-progress'), [ids.extraction]);
      });
      it('_has: encounters with a procedure of a CDT code', async () => {
        assert.deepEqual(await search(`/Encounter?_has:Procedure:encounter:code=D7140`), [otherEncounter]);
      });
    });

    describe('what the schema cannot hold is 422, and nothing is written', () => {
      it('a code in another system than CDT, or no code', async () => {
        await refused(() => api.post('/Procedure', compositeRestoration(refs, { code: { coding: [{ system: 'http://snomed.info/sct', code: '234785001' }] } })), 422, 'Procedure.code');
        await refused(() => api.post('/Procedure', compositeRestoration(refs, { code: { coding: [{ system: CDT, code: '2392' }] } })), 422, 'Procedure.code');
        await refused(() => api.post('/Procedure', compositeRestoration(refs, { code: { text: 'filling' } })), 422, 'Procedure.code');
        await refused(() => api.post('/Procedure', compositeRestoration(refs, { code: undefined })), 422, 'Procedure.code');
      });
      it('a subject that is not a Patient', async () => {
        await refused(() => api.post('/Procedure', compositeRestoration(refs, { subject: { reference: `Group/${patient}` } })), 422, 'Procedure.subject');
        await refused(() => api.post('/Procedure', compositeRestoration(refs, { encounter: { reference: `EpisodeOfCare/${encounter}` } })), 422, 'Procedure.encounter');
      });
      it('a tooth or surface code that Oral Site Codes or Surface Codes do not define', async () => {
        await refused(() => api.post('/Procedure', compositeRestoration(refs, { bodySite: [{ coding: [{ system: EX_TOOTH, code: '19' }] }] })), 422, 'Procedure.bodySite');
        await refused(() => api.post('/Procedure', compositeRestoration(refs, { bodySite: [{ coding: [{ system: FDI_SURFACE, code: 'MODBL' }] }] })), 422, 'Procedure.bodySite');
      });
    });
  });

  describe('CapabilityStatement', () => {
    it('lists the three types with their search parameters', async () => {
      const statement = (await app.request.get('/fhir/metadata').expect(200)).body;
      const params = (type: string) => statement.rest[0].resource.find((r: { type: string }) => r.type === type)
        ?.searchParam.map((p: { name: string }) => p.name).sort();
      assert.deepEqual(params('Location'), ['_id', '_lastUpdated', '_profile', '_security', '_tag', 'address-city', 'name', 'status', 'type']);
      assert.deepEqual(params('Encounter'), ['_id', '_lastUpdated', '_profile', '_security', '_tag', 'date', 'location', 'participant', 'patient', 'practitioner', 'status', 'subject', 'type']);
      assert.deepEqual(params('Procedure'), ['_id', '_lastUpdated', '_profile', '_security', '_tag', 'code', 'date', 'encounter', 'patient', 'performer', 'status', 'subject']);
    });
  });
});
