// The Observation mapping (src/fhir/mappings/observation.ts): one resource type over two
// tables. Vital signs (a single one, the blood pressure panel, the vital signs panel) land in
// vital_signs, perio site measurements in perio_measurements; each reads back as written, is
// found by every declared search parameter through the fhir_observations view, keeps to its
// table on update, and stays inside its tenant.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { ownerClient, ownerQuery } from './support/database.ts';
import { memberUser, startTestApp, tenantWithToken, type TestApp } from './support/app.ts';
import { content, dentalPatient, fhirApi, refusalAssertion, type Json, type SearchBundle } from './support/fhir.ts';

const LOINC = 'http://loinc.org';
const UCUM = 'http://unitsofmeasure.org';
const CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';
const PERIO = 'https://cusp.dental/fhir/CodeSystem/perio';
const PERIO_SITE_SYSTEM = 'https://cusp.dental/fhir/CodeSystem/perio-site';
const PERIO_SITE_EXTENSION = 'https://cusp.dental/fhir/StructureDefinition/perio-site';
const EX_TOOTH = 'http://terminology.hl7.org/CodeSystem/ex-tooth';

type Bundle = SearchBundle;
type Refs = { patient: string; encounter?: string; practitioner?: string };

// ---- realistic dental fixtures -----------------------------------------------------------
// An override of undefined removes the element (the factories return what JSON would carry).

const json = (value: Json): Json => JSON.parse(JSON.stringify(value));
const vitalSignsCategory = [{ coding: [{ system: CATEGORY, code: 'vital-signs', display: 'Vital Signs' }] }];
const mmHg = (value: number) => ({ value, unit: 'mmHg', system: UCUM, code: 'mm[Hg]' });
const loinc = (code: string, display?: string) => ({ coding: [{ system: LOINC, code, ...(display ? { display } : {}) }] });

/** The pulse taken before sedation: a single vital sign. */
function heartRate(refs: Refs, overrides: Json = {}): Json {
  return json({
    resourceType: 'Observation',
    status: 'final',
    category: vitalSignsCategory,
    code: { ...loinc('8867-4', 'Heart rate'), text: 'Pulse' },
    subject: { reference: `Patient/${refs.patient}` },
    encounter: refs.encounter ? { reference: `Encounter/${refs.encounter}` } : undefined,
    effectiveDateTime: '2024-05-01T09:35:00Z',
    performer: refs.practitioner ? [{ reference: `Practitioner/${refs.practitioner}` }] : undefined,
    valueQuantity: { value: 72, unit: 'beats/minute', system: UCUM, code: '/min' },
    note: [{ text: 'Pre-sedation vitals, patient seated' }],
    ...overrides,
  });
}

function bloodPressure(refs: Refs, overrides: Json = {}): Json {
  return json({
    resourceType: 'Observation',
    status: 'final',
    category: vitalSignsCategory,
    code: loinc('85354-9', 'Blood pressure panel with all children optional'),
    subject: { reference: `Patient/${refs.patient}` },
    encounter: refs.encounter ? { reference: `Encounter/${refs.encounter}` } : undefined,
    effectiveDateTime: '2024-05-01T09:36:00Z',
    bodySite: { coding: [{ system: 'http://snomed.info/sct', code: '368209003', display: 'Right arm' }] },
    component: [
      { code: loinc('8480-6', 'Systolic blood pressure'), valueQuantity: mmHg(128) },
      { code: loinc('8462-4', 'Diastolic blood pressure'), valueQuantity: mmHg(82) },
    ],
    ...overrides,
  });
}

function vitalsPanel(refs: Refs, overrides: Json = {}): Json {
  return json({
    resourceType: 'Observation',
    status: 'final',
    category: vitalSignsCategory,
    code: loinc('85353-1', 'Vital signs, weight, height, head circumference, oxygen saturation and BMI panel'),
    subject: { reference: `Patient/${refs.patient}` },
    encounter: refs.encounter ? { reference: `Encounter/${refs.encounter}` } : undefined,
    effectiveDateTime: '2024-05-01T09:40:00Z',
    performer: refs.practitioner ? [{ reference: `Practitioner/${refs.practitioner}` }] : undefined,
    component: [
      { code: loinc('8480-6'), valueQuantity: mmHg(131) },
      { code: loinc('8462-4'), valueQuantity: mmHg(85) },
      { code: loinc('8867-4'), valueQuantity: { value: 76, unit: '/min', system: UCUM, code: '/min' } },
      { code: loinc('8310-5'), valueQuantity: { value: 36.8, unit: 'Cel', system: UCUM, code: 'Cel' } },
      { code: { coding: [{ system: LOINC, code: '2708-6' }, { system: LOINC, code: '59408-5' }] }, valueQuantity: { value: 98, unit: '%', system: UCUM, code: '%' } },
      { code: loinc('29463-7'), valueQuantity: { value: 70.25, unit: 'kg', system: UCUM, code: 'kg' } },
    ],
    note: [{ text: 'Before IV sedation for third molar extraction' }],
    ...overrides,
  });
}

/** One probing site of a perio chart: tooth 36, mesiobuccal. */
function perioSite(refs: Refs, overrides: Json = {}): Json {
  return json({
    resourceType: 'Observation',
    status: 'final',
    category: [{ coding: [{ system: CATEGORY, code: 'exam', display: 'Exam' }] }],
    code: { coding: [{ system: PERIO, code: 'perio-site-exam', display: 'Periodontal site examination' }] },
    subject: { reference: `Patient/${refs.patient}` },
    encounter: refs.encounter ? { reference: `Encounter/${refs.encounter}` } : undefined,
    effectiveDateTime: '2024-05-01T10:05:00Z',
    performer: refs.practitioner ? [{ reference: `Practitioner/${refs.practitioner}` }] : undefined,
    bodySite: {
      extension: [{ url: PERIO_SITE_EXTENSION, valueCoding: { system: PERIO_SITE_SYSTEM, code: 'MB' } }],
      coding: [{ system: EX_TOOTH, code: '36' }],
      text: '36 mesiobuccal',
    },
    component: [
      { code: { coding: [{ system: PERIO, code: 'pocket-depth' }] }, valueQuantity: { value: 4.5, unit: 'mm', system: UCUM, code: 'mm' } },
      { code: { coding: [{ system: PERIO, code: 'gingival-margin' }] }, valueQuantity: { value: -1, unit: 'mm', system: UCUM, code: 'mm' } },
      { code: { coding: [{ system: PERIO, code: 'bleeding-on-probing' }] }, valueBoolean: true },
      { code: { coding: [{ system: PERIO, code: 'mobility' }] }, valueInteger: 1 },
      { code: { coding: [{ system: PERIO, code: 'furcation' }] }, valueString: 'II' },
    ],
    ...overrides,
  });
}

describe('FHIR mapping: Observation over vital_signs and perio_measurements', () => {
  let app: TestApp;
  let token: string;
  let tenantId: string;
  let practitioner: string;
  let patient: string;
  let encounter: string;
  let refs: Refs;

  const api = fhirApi(() => ({ app, token }));
  const { created, search, bundle } = api;
  const row = (table: string, id: string) => app.services.db.tenant(tenantId, (trx) => trx(table).where({ id }).first());
  const versionCount = () => app.services.db.tenant(tenantId, (trx) => trx('resource_versions').count({ n: '*' })).then((r) => Number(r[0]?.n));
  const rowCount = () => app.services.db.tenant(tenantId, async (trx) => {
    const [vitals] = await trx('vital_signs').count({ n: '*' });
    const [perio] = await trx('perio_measurements').count({ n: '*' });
    return Number(vitals?.n) + Number(perio?.n);
  });
  const refused = refusalAssertion(async () => [await versionCount(), await rowCount()]);

  before(async () => {
    app = await startTestApp();
    ({ token, tenantId } = await tenantWithToken(app, ['system/*.*']));
    practitioner = await memberUser(app, tenantId, { email: `hygienist.${Date.now()}@missionstreetdental.example`, fullName: 'Sam Ortiz, RDH', userType: 'HYGIENIST' });
    patient = (await created(dentalPatient())).id;
    encounter = (await created({
      resourceType: 'Encounter', status: 'finished', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
      subject: { reference: `Patient/${patient}` }, period: { start: '2024-05-01T09:30:00Z', end: '2024-05-01T10:30:00Z' },
    })).id;
    refs = { patient, encounter, practitioner };
  });
  after(() => app.close());

  describe('read back what was written, from the right table', () => {
    it('a single vital sign (heart rate) is a row of vital_signs with heart_rate alone', async () => {
      const written = heartRate(refs);
      const observation = await created(written);
      assert.deepEqual(content(observation), written);
      assert.deepEqual(content((await api.get(`/Observation/${observation.id}`).expect(200)).body), written);
      const stored = await row('vital_signs', observation.id);
      assert.equal(stored.heart_rate, 72);
      assert.deepEqual([stored.systolic_bp, stored.temperature_c, stored.spo2], [null, null, null]);
      assert.equal(stored.patient_id, patient);
      assert.equal(stored.encounter_id, encounter);
      assert.equal(stored.recorded_by_id, practitioner);
      assert.equal(stored.measured_at.toISOString(), '2024-05-01T09:35:00.000Z');
      assert.equal(stored.notes, 'Pre-sedation vitals, patient seated');
      assert.equal(stored.fhir_code, '8867-4');
      assert.equal(await row('perio_measurements', observation.id), undefined);
    });

    it('the blood pressure panel is systolic_bp and diastolic_bp', async () => {
      const written = bloodPressure(refs);
      const observation = await created(written);
      assert.deepEqual(content((await api.get(`/Observation/${observation.id}`).expect(200)).body), written);
      const stored = await row('vital_signs', observation.id);
      assert.deepEqual([stored.systolic_bp, stored.diastolic_bp, stored.heart_rate], [128, 82, null]);
      assert.equal(stored.fhir_code, '85354-9');
    });

    it('the vital signs panel fills one column per component; SpO2 carries both LOINC codes', async () => {
      const written = vitalsPanel(refs);
      const observation = await created(written);
      assert.deepEqual(content((await api.get(`/Observation/${observation.id}`).expect(200)).body), written);
      const stored = await row('vital_signs', observation.id);
      assert.deepEqual([stored.systolic_bp, stored.diastolic_bp, stored.heart_rate, stored.respiratory_rate], [131, 85, 76, null]);
      assert.deepEqual([stored.temperature_c, stored.spo2, stored.weight_kg, stored.height_cm, stored.bmi], ['36.8', 98, '70.25', null, null]);
      assert.equal(stored.fhir_code, '85353-1');
    });

    it('a perio site is a row of perio_measurements: tooth, site and the five measurements', async () => {
      const written = perioSite(refs);
      const observation = await created(written);
      assert.deepEqual(content(observation), written);
      assert.deepEqual(content((await api.get(`/Observation/${observation.id}`).expect(200)).body), written);
      const stored = await row('perio_measurements', observation.id);
      assert.deepEqual([stored.tooth_number, stored.site], ['36', 'MB']);
      assert.deepEqual([stored.pocket_depth_mm, stored.gingival_margin_mm, stored.bleeding_on_probing, stored.mobility_grade, stored.furcation_involvement],
        ['4.5', '-1.0', true, 1, 'II']);
      assert.equal(stored.measured_at.toISOString(), '2024-05-01T10:05:00.000Z');
      assert.equal(await row('vital_signs', observation.id), undefined);
    });

    it('resources of column-backed elements only leave no residual', async () => {
      const vital = {
        resourceType: 'Observation', status: 'final', category: [{ coding: [{ system: CATEGORY, code: 'vital-signs' }] }],
        code: { coding: [{ system: LOINC, code: '8310-5' }] }, subject: { reference: `Patient/${patient}` },
        encounter: { reference: `Encounter/${encounter}` }, effectiveDateTime: '2024-05-01T09:41:00Z',
        performer: [{ reference: `Practitioner/${practitioner}` }],
        valueQuantity: { value: 37.2, unit: 'Cel', system: UCUM, code: 'Cel' }, note: [{ text: 'Tympanic' }],
      };
      const perio = {
        resourceType: 'Observation', status: 'final', category: [{ coding: [{ system: CATEGORY, code: 'exam' }] }],
        code: { coding: [{ system: PERIO, code: 'perio-site-exam' }] }, subject: { reference: `Patient/${patient}` },
        effectiveDateTime: '2024-05-01T10:06:00Z',
        bodySite: { extension: [{ url: PERIO_SITE_EXTENSION, valueCoding: { system: PERIO_SITE_SYSTEM, code: 'DL' } }], coding: [{ system: EX_TOOTH, code: '47' }] },
        component: [{ code: { coding: [{ system: PERIO, code: 'pocket-depth' }] }, valueQuantity: { value: 3, unit: 'mm', system: UCUM, code: 'mm' } }],
      };
      for (const [written, table] of [[vital, 'vital_signs'], [perio, 'perio_measurements']] as const) {
        const observation = await created(written);
        assert.equal((await row(table, observation.id)).fhir_residual, null, table);
        assert.deepEqual(content(observation), written);
      }
    });

    it('amended is a final result: accepted, and kept beside the row (no status column)', async () => {
      const written = heartRate(refs, { status: 'amended' });
      const observation = await created(written);
      assert.equal((await api.get(`/Observation/${observation.id}`)).body.status, 'amended');
    });

    it('rows written by other writers render by the measurements they hold', async () => {
      const [inserted] = await ownerQuery(`insert into vital_signs (tenant_id, patient_id, measured_at, spo2) values ($1, $2, '2024-05-02T08:00:00Z', 97) returning id`, [tenantId, patient]);
      const id = inserted!.id as string;
      const single = (await api.get(`/Observation/${id}`).expect(200)).body;
      assert.deepEqual(single.code, { coding: [{ system: LOINC, code: '2708-6' }, { system: LOINC, code: '59408-5' }] });
      assert.deepEqual(single.valueQuantity, { value: 97, unit: '%', system: UCUM, code: '%' });
      assert.deepEqual(single.category, [{ coding: [{ system: CATEGORY, code: 'vital-signs' }] }]);
      assert.equal(single.status, 'final');
      assert.equal(single.meta.versionId, '1');

      await ownerQuery('update vital_signs set respiratory_rate = 14 where tenant_id = $1 and id = $2', [tenantId, id]);
      const panel = (await api.get(`/Observation/${id}`).expect(200)).body;
      assert.equal(panel.meta.versionId, '2');
      assert.deepEqual(panel.code, { coding: [{ system: LOINC, code: '85353-1' }] });
      assert.equal(panel.valueQuantity, undefined);
      assert.deepEqual(panel.component.map((c: Json) => c.code.coding[0].code), ['9279-1', '2708-6']);
      assert.deepEqual(await search(`/Observation?_id=${id}&code=85353-1`), [id]);
      assert.deepEqual(await search(`/Observation?_id=${id}&code=2708-6`), []);
    });
  });

  describe('search', () => {
    const ids: Record<string, string> = {};
    let other: string;
    let otherEncounter: string;
    let unobserved: string;
    before(async () => {
      unobserved = (await created(dentalPatient())).id;
      other = (await created(dentalPatient({ name: [{ family: 'Vasquez-Lindqvist', given: ['Marisol'] }] }))).id;
      otherEncounter = (await created({
        resourceType: 'Encounter', status: 'finished', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
        subject: { reference: `Patient/${other}` }, period: { start: '2032-02-02T09:00:00Z' },
      })).id;
      const theirs: Refs = { patient: other, encounter: otherEncounter };
      ids.heartRate = (await created(heartRate({ ...theirs, practitioner }, { effectiveDateTime: '2032-02-02T09:05:00Z' }))).id;
      ids.spo2 = (await created(heartRate(theirs, {
        code: loinc('59408-5'), valueQuantity: { value: 95, unit: '%', system: UCUM, code: '%' }, effectiveDateTime: '2032-02-02T09:06:00Z',
      }))).id;
      ids.bloodPressure = (await created(bloodPressure(theirs, { effectiveDateTime: '2032-02-02T09:07:00Z' }))).id;
      ids.panel = (await created(vitalsPanel({ patient: other }, { effectiveDateTime: '2032-02-03T09:00:00Z' }))).id;
      ids.perio = (await created(perioSite(theirs, { effectiveDateTime: '2032-02-02T10:00:00Z' }))).id;
    });
    const all = () => Object.values(ids).sort();
    const of = (...names: string[]) => names.map((name) => ids[name]!).sort();
    const theirs = (query: string) => search(`/Observation?patient=${other}&${query}`);

    it('patient and subject, by reference, bare id and type modifier', async () => {
      assert.deepEqual(await search(`/Observation?patient=Patient/${other}`), all());
      assert.deepEqual(await search(`/Observation?subject=${other}`), all());
      assert.deepEqual(await search(`/Observation?subject:Patient=${other}`), all());
    });
    it('encounter and performer', async () => {
      assert.deepEqual(await search(`/Observation?encounter=Encounter/${otherEncounter}`), of('heartRate', 'spo2', 'bloodPressure', 'perio'));
      assert.deepEqual(await theirs(`performer=Practitioner/${practitioner}`), of('heartRate'));
      assert.deepEqual(await theirs('encounter:missing=true'), of('panel'));
    });
    it('code: a single vital sign by its LOINC code (SpO2 by either), the panels by theirs, perio by the Cusp code', async () => {
      assert.deepEqual(await theirs('code=8867-4'), of('heartRate'));
      assert.deepEqual(await theirs(`code=${LOINC}|8867-4`), of('heartRate'));
      assert.deepEqual(await theirs('code=2708-6'), of('spo2'));
      assert.deepEqual(await theirs('code=59408-5'), of('spo2'));
      assert.deepEqual(await theirs('code=85354-9'), of('bloodPressure'));
      assert.deepEqual(await theirs('code=85353-1'), of('panel'));
      assert.deepEqual(await theirs(`code=${PERIO}|perio-site-exam`), of('perio'));
      assert.deepEqual(await theirs(`code=${LOINC}|perio-site-exam`), []);
      assert.deepEqual(await theirs('code=8480-6'), []);
      assert.deepEqual(await theirs('code:not=85353-1'), of('heartRate', 'spo2', 'bloodPressure', 'perio'));
    });
    it('component-code: the members of the panels and the perio measurements', async () => {
      assert.deepEqual(await theirs('component-code=8480-6'), of('bloodPressure', 'panel'));
      assert.deepEqual(await theirs(`component-code=${LOINC}|29463-7`), of('panel'));
      assert.deepEqual(await theirs('component-code=59408-5'), of('panel'));
      assert.deepEqual(await theirs('component-code=8867-4'), of('panel'));
      assert.deepEqual(await theirs(`component-code=${PERIO}|bleeding-on-probing`), of('perio'));
    });
    it('category', async () => {
      assert.deepEqual(await theirs('category=vital-signs'), of('heartRate', 'spo2', 'bloodPressure', 'panel'));
      assert.deepEqual(await theirs(`category=${CATEGORY}|exam`), of('perio'));
      assert.deepEqual(await theirs('category=laboratory'), []);
    });
    it('date: when measured', async () => {
      assert.deepEqual(await theirs('date=2032-02-02'), of('heartRate', 'spo2', 'bloodPressure', 'perio'));
      assert.deepEqual(await theirs('date=ge2032-02-02T09:06:30Z&date=lt2032-02-03'), of('bloodPressure', 'perio'));
      assert.deepEqual(await theirs('date=2032-02-03T09:00:00Z'), of('panel'));
    });
    it('value-quantity: the value of a single vital sign, in its own unit only', async () => {
      assert.deepEqual(await theirs('value-quantity=72'), of('heartRate'));
      assert.deepEqual(await theirs(`value-quantity=gt90|${UCUM}|%`), of('spo2'));
      assert.deepEqual(await theirs('value-quantity=gt60||/min'), of('heartRate'));
      assert.deepEqual(await theirs(`value-quantity=72|${UCUM}|%`), []);
      assert.deepEqual(await theirs('value-quantity=lt1000'), of('heartRate', 'spo2'));
    });
    it('chained: subject:Patient.family, patient.family, encounter.status', async () => {
      assert.deepEqual(await search('/Observation?subject:Patient.family=vasquez-lind'), all());
      assert.deepEqual(await search('/Observation?patient.family=Vasquez-Lindqvist&code=85354-9'), of('bloodPressure'));
      assert.deepEqual(await theirs('encounter.status=finished'), of('heartRate', 'spo2', 'bloodPressure', 'perio'));
    });
    it('_include=Observation:patient and Patient?_revinclude=Observation:patient', async () => {
      const included = await bundle(`/Observation?patient=${other}&code=85354-9&_include=Observation:patient`);
      assert.deepEqual(included.entry?.map((e) => [e.search.mode, e.resource.resourceType, e.resource.id]),
        [['match', 'Observation', ids.bloodPressure], ['include', 'Patient', other]]);
      const revincluded = await bundle(`/Patient?_id=${other}&_revinclude=Observation:patient`);
      assert.deepEqual(revincluded.entry?.filter((e) => e.search.mode === 'include').map((e) => e.resource.id).sort(), all());
      assert.ok(revincluded.entry?.some((e) => e.search.mode === 'match' && e.resource.id === other));
    });
    it('_has: patients with a perio site exam; encounters with a blood pressure', async () => {
      const patients = await search(`/Patient?_has:Observation:patient:code=perio-site-exam&_id=${other},${unobserved}`);
      assert.deepEqual(patients, [other]);
      assert.deepEqual(await search(`/Encounter?_has:Observation:encounter:code=85354-9&_id=${otherEncounter}`), [otherEncounter]);
      assert.deepEqual(await search(`/Encounter?_has:Observation:encounter:code=85353-1&_id=${otherEncounter}`), []);
    });
    it('sorted by date, paged', async () => {
      const first = await bundle(`/Observation?patient=${other}&_sort=-date&_count=2`);
      assert.deepEqual(first.entry?.map((e) => e.resource.id), [ids.panel, ids.perio]);
    });
  });

  describe('what the schema cannot hold is 422, and nothing is written', () => {
    it('a temperature in [degF] is not converted', async () => {
      await refused(() => api.post('/Observation', heartRate(refs, {
        code: loinc('8310-5'), valueQuantity: { value: 98.6, unit: '[degF]', system: UCUM, code: '[degF]' },
      })), 422, 'Observation.valueQuantity.unit');
      await refused(() => api.post('/Observation', vitalsPanel(refs, {
        component: [{ code: loinc('8310-5'), valueQuantity: { value: 98.6, unit: '[degF]' } }, { code: loinc('8867-4'), valueQuantity: { value: 70, code: '/min' } }],
      })), 422, 'Observation.component[0].valueQuantity.unit');
      await refused(() => api.post('/Observation', heartRate(refs, { valueQuantity: { value: 72, system: 'http://snomed.info/sct', code: '/min' } })), 422, 'Observation.valueQuantity.system');
    });
    it('a value with more decimals than its column, or beyond it, is not rounded', async () => {
      await refused(() => api.post('/Observation', heartRate(refs, { valueQuantity: { value: 72.5, unit: '/min', system: UCUM, code: '/min' } })), 422, 'Observation.valueQuantity.value');
      await refused(() => api.post('/Observation', heartRate(refs, { code: loinc('8310-5'), valueQuantity: { value: 36.85, system: UCUM, code: 'Cel' } })), 422, 'Observation.valueQuantity.value');
      await refused(() => api.post('/Observation', heartRate(refs, { code: loinc('8310-5'), valueQuantity: { value: 1000, system: UCUM, code: 'Cel' } })), 422, 'Observation.valueQuantity.value');
      const pocket = perioSite(refs);
      pocket.component[0].valueQuantity.value = 4.55;
      await refused(() => api.post('/Observation', pocket), 422, 'Observation.component[0].valueQuantity.value');
    });
    it('a code this server stores no Observation of, saying what it stores', async () => {
      const res = await refused(() => api.post('/Observation', heartRate(refs, { code: loinc('9843-4', 'Head Occipital-frontal circumference') })), 422, 'Observation.code');
      assert.match(res.body.issue[0].diagnostics, /vital signs.*85354-9.*perio-site-exam/s);
      await refused(() => api.post('/Observation', heartRate(refs, { code: loinc('8480-6') })), 422, 'Observation.code');
      await refused(() => api.post('/Observation', heartRate(refs, { code: { coding: [{ system: 'http://snomed.info/sct', code: '364075005' }] } })), 422, 'Observation.code');
      await refused(() => api.post('/Observation', heartRate(refs, { code: { coding: [{ system: LOINC, code: '8867-4' }, { system: LOINC, code: '9279-1' }] } })), 422, 'Observation.code');
    });
    it('shapes that would not read back as written', async () => {
      await refused(() => api.post('/Observation', bloodPressure(refs, { component: [bloodPressure(refs).component[0]] })), 422, 'Observation.component');
      await refused(() => api.post('/Observation', bloodPressure(refs, { component: [...bloodPressure(refs).component, { code: loinc('8867-4'), valueQuantity: { value: 70, code: '/min' } }] })), 422, 'Observation.component[2].code');
      await refused(() => api.post('/Observation', vitalsPanel(refs, { component: [{ code: loinc('8867-4'), valueQuantity: { value: 70, code: '/min' } }] })), 422, 'Observation.code');
      await refused(() => api.post('/Observation', vitalsPanel(refs, { component: bloodPressure(refs).component })), 422, 'Observation.code');
      await refused(() => api.post('/Observation', heartRate(refs, { component: bloodPressure(refs).component })), 422, 'Observation.component');
      await refused(() => api.post('/Observation', heartRate(refs, { valueQuantity: undefined, valueString: '72 bpm' })), 422, 'Observation.value[x]');
      await refused(() => api.post('/Observation', heartRate(refs, { valueQuantity: undefined })), 422, 'Observation.valueQuantity');
      await refused(() => api.post('/Observation', vitalsPanel(refs, { valueQuantity: { value: 1, code: '/min' } })), 422, 'Observation.value[x]');
    });
    it('a status other than a final result, another category, no subject, no instant of measurement', async () => {
      for (const status of ['preliminary', 'registered', 'cancelled', 'entered-in-error', 'unknown']) {
        await refused(() => api.post('/Observation', heartRate(refs, { status })), 422, 'Observation.status');
      }
      await refused(() => api.post('/Observation', heartRate(refs, { category: [{ coding: [{ system: CATEGORY, code: 'laboratory' }] }] })), 422, 'Observation.category[0]');
      await refused(() => api.post('/Observation', perioSite(refs, { category: vitalSignsCategory })), 422, 'Observation.category[0]');
      await refused(() => api.post('/Observation', heartRate(refs, { subject: undefined })), 422, 'Observation.subject');
      await refused(() => api.post('/Observation', heartRate(refs, { subject: { reference: `Group/${patient}` } })), 422, 'Observation.subject');
      await refused(() => api.post('/Observation', heartRate(refs, { effectiveDateTime: undefined })), 422, 'Observation.effective[x]');
      await refused(() => api.post('/Observation', heartRate(refs, { effectiveDateTime: undefined, effectivePeriod: { start: '2024-05-01T09:00:00Z' } })), 422, 'Observation.effective[x]');
      await refused(() => api.post('/Observation', heartRate(refs, { performer: [{ reference: 'Practitioner/sam-ortiz' }] })), 422, 'Observation.performer[0]');
    });
    it('a perio site needs a tooth and a site of the Cusp code systems, and known measurements', async () => {
      await refused(() => api.post('/Observation', perioSite(refs, { bodySite: undefined })), 422, 'Observation.bodySite');
      await refused(() => api.post('/Observation', perioSite(refs, { bodySite: { coding: [{ system: EX_TOOTH, code: '3' }], extension: perioSite(refs).bodySite.extension } })), 422, 'Observation.bodySite');
      await refused(() => api.post('/Observation', perioSite(refs, { bodySite: { coding: [{ system: EX_TOOTH, code: '19' }], extension: perioSite(refs).bodySite.extension } })), 422, 'Observation.bodySite');
      const siteElement = `Observation.bodySite.extension('${PERIO_SITE_EXTENSION}')`;
      await refused(() => api.post('/Observation', perioSite(refs, { bodySite: { coding: [{ system: EX_TOOTH, code: '36' }] } })), 422, siteElement);
      await refused(() => api.post('/Observation', perioSite(refs, {
        bodySite: { coding: [{ system: EX_TOOTH, code: '36' }], extension: [{ url: PERIO_SITE_EXTENSION, valueCoding: { system: 'http://terminology.hl7.org/CodeSystem/FDI-surface', code: 'M' } }] },
      })), 422, siteElement);
      await refused(() => api.post('/Observation', perioSite(refs, {
        bodySite: { coding: [{ system: EX_TOOTH, code: '36' }], extension: [{ url: PERIO_SITE_EXTENSION, valueCoding: { system: PERIO_SITE_SYSTEM, code: 'MO' } }] },
      })), 422, siteElement);
      await refused(() => api.post('/Observation', perioSite(refs, { component: [{ code: { coding: [{ system: PERIO, code: 'recession' }] }, valueQuantity: { value: 1, code: 'mm' } }] })), 422, 'Observation.component[0].code');
      await refused(() => api.post('/Observation', perioSite(refs, { component: [{ code: { coding: [{ system: PERIO, code: 'bleeding-on-probing' }] }, valueString: 'yes' }] })), 422, 'Observation.component[0].value[x]');
      await refused(() => api.post('/Observation', perioSite(refs, { component: [{ code: { coding: [{ system: PERIO, code: 'pocket-depth' }] }, valueQuantity: { value: 4, code: 'cm' } }] })), 422, 'Observation.component[0].valueQuantity.code');
    });
  });

  describe('update', () => {
    it('within vital_signs: a new value, then another shape of the same row', async () => {
      const observation = await created(heartRate(refs));
      const changed = heartRate(refs, { id: observation.id, valueQuantity: { value: 88, unit: '/min', system: UCUM, code: '/min' } });
      assert.equal((await api.put(`/Observation/${observation.id}`, changed).expect(200)).body.meta.versionId, '2');
      assert.equal((await row('vital_signs', observation.id)).heart_rate, 88);

      const panel = vitalsPanel(refs, { id: observation.id });
      assert.equal((await api.put(`/Observation/${observation.id}`, panel).expect(200)).body.meta.versionId, '3');
      const { id: _id, ...expected } = panel;
      assert.deepEqual(content((await api.get(`/Observation/${observation.id}`)).body), expected);
      assert.equal((await row('vital_signs', observation.id)).fhir_code, '85353-1');
    });

    it('within perio_measurements: a deeper pocket, another site', async () => {
      const observation = await created(perioSite(refs));
      const changed = perioSite(refs, { id: observation.id });
      changed.component[0].valueQuantity.value = 5;
      changed.bodySite.extension[0].valueCoding.code = 'DB';
      await api.put(`/Observation/${observation.id}`, changed).expect(200);
      const stored = await row('perio_measurements', observation.id);
      assert.deepEqual([stored.pocket_depth_mm, stored.site, stored.version_id], ['5.0', 'DB', 2]);
      const { id: _id, ...expected } = changed;
      assert.deepEqual(content((await api.get(`/Observation/${observation.id}`)).body), expected);
    });

    it('an update that would move the resource to the other table is 422, and it stays as it was', async () => {
      const vital = await created(heartRate(refs));
      await refused(() => api.put(`/Observation/${vital.id}`, perioSite(refs, { id: vital.id })), 422, 'Observation.code');
      const perio = await created(perioSite(refs));
      await refused(() => api.put(`/Observation/${perio.id}`, bloodPressure(refs, { id: perio.id })), 422, 'Observation.code');
      assert.equal((await api.get(`/Observation/${vital.id}`)).body.meta.versionId, '1');
      assert.equal((await api.get(`/Observation/${perio.id}`)).body.code.coding[0].code, 'perio-site-exam');
    });

    it('update as create puts a new id in the table the resource belongs to; If-Match is checked against that row', async () => {
      const id = randomUUID();
      await api.put(`/Observation/${id}`, perioSite(refs, { id })).expect(201);
      assert.ok(await row('perio_measurements', id));
      await api.put(`/Observation/${id}`, perioSite(refs, { id })).set('If-Match', 'W/"7"').expect(412);
      await api.put(`/Observation/${id}`, perioSite(refs, { id })).set('If-Match', 'W/"1"').expect(200);
    });
  });

  describe('delete, history and vread', () => {
    it('delete removes the row from its table (no soft delete there): 410 afterwards, earlier versions readable', async () => {
      const vital = await created(bloodPressure(refs));
      const perio = await created(perioSite(refs));
      for (const [observation, table] of [[vital, 'vital_signs'], [perio, 'perio_measurements']] as const) {
        await api.delete(`/Observation/${observation.id}`).expect(204);
        await api.get(`/Observation/${observation.id}`).expect(410);
        assert.equal(await row(table, observation.id), undefined);
        assert.deepEqual(content((await api.get(`/Observation/${observation.id}/_history/1`).expect(200)).body), content(observation));
        assert.deepEqual(await search(`/Observation?_id=${observation.id}`), []);
      }
    });

    it('an update brings a deleted Observation back as the version after its deletion', async () => {
      const observation = await created(heartRate(refs));
      await api.delete(`/Observation/${observation.id}`).expect(204);
      const revived = await api.put(`/Observation/${observation.id}`, perioSite(refs, { id: observation.id })).expect(201);
      assert.equal(revived.body.meta.versionId, '3');
      assert.equal((await api.get(`/Observation/${observation.id}`).expect(200)).body.code.coding[0].code, 'perio-site-exam');
      assert.deepEqual(await search(`/Observation?_id=${observation.id}&code=perio-site-exam`), [observation.id]);
      const history = (await api.get(`/Observation/${observation.id}/_history`).expect(200)).body;
      // The row is inserted again: a create, recorded as the version after the deletion.
      assert.deepEqual(history.entry.map((e: Json) => [e.request.method, e.response.etag]), [['POST', 'W/"3"'], ['DELETE', 'W/"2"'], ['POST', 'W/"1"']]);
      assert.equal(history.entry[2].resource.code.coding[0].code, '8867-4');
    });

    it('instance history and vread render each version from the table it was taken from', async () => {
      const observation = await created(perioSite(refs));
      const changed = perioSite(refs, { id: observation.id });
      changed.component[2].valueBoolean = false;
      await api.put(`/Observation/${observation.id}`, changed).expect(200);
      const history = (await api.get(`/Observation/${observation.id}/_history`).expect(200)).body;
      assert.deepEqual(history.entry.map((e: Json) => e.request.method), ['PUT', 'POST']);
      assert.equal(history.entry[0].resource.component[2].valueBoolean, false);
      assert.equal(history.entry[1].resource.component[2].valueBoolean, true);
      assert.equal((await api.get(`/Observation/${observation.id}/_history/1`).expect(200)).body.component[2].valueBoolean, true);
    });

    it('type history lists Observations of both tables', async () => {
      const fresh = await tenantWithToken(app, ['system/*.*']);
      const post = async (body: Json) => (await app.request.post(`/fhir/${body.resourceType}`).auth(fresh.token, { type: 'bearer' })
        .type('application/fhir+json').send(JSON.stringify(body)).expect(201)).body.id as string;
      const theirPatient = await post(dentalPatient());
      const made = [await post(heartRate({ patient: theirPatient })), await post(perioSite({ patient: theirPatient }))];
      const history = (await app.request.get('/fhir/Observation/_history').auth(fresh.token, { type: 'bearer' }).expect(200)).body;
      assert.deepEqual(history.entry.map((e: Json) => e.resource.id).sort(), made.sort());
    });
  });

  describe('tenants', () => {
    it("another tenant finds none of this tenant's Observations, through search or by id", async () => {
      const vital = await created(vitalsPanel(refs));
      const perio = await created(perioSite(refs));
      const other = await tenantWithToken(app, ['system/*.*']);
      const as = (url: string) => app.request.get(`/fhir${url}`).auth(other.token, { type: 'bearer' });
      for (const query of ['/Observation', '/Observation?code=85353-1', '/Observation?component-code=pocket-depth', '/Observation?category=exam',
        `/Observation?patient=${patient}`, `/Observation?_id=${vital.id},${perio.id}`, '/Observation?value-quantity=ge0', '/Observation?date=2024']) {
        const res = await as(query).expect(200);
        assert.deepEqual(res.body.entry ?? [], [], query);
      }
      await as(`/Observation/${vital.id}`).expect(404);
      await as(`/Observation/${perio.id}/_history/1`).expect(404);
      const revincluded = (await as(`/Patient?_revinclude=Observation:patient`).expect(200)).body;
      assert.ok(!JSON.stringify(revincluded).includes(vital.id));
    });

    it('the views filter on the tenant themselves (row-level security does not reach through a view)', async () => {
      const vital = await created(heartRate(refs));
      const other = await tenantWithToken(app, ['system/*.*']);
      const seen = await app.services.db.tenant(other.tenantId, async (trx) => [
        ...await trx('fhir_observations').select('id'),
        ...await trx('fhir_observation_codes').select('observation_id as id'),
        ...await trx('fhir_observation_component_codes').select('observation_id as id'),
      ]);
      assert.deepEqual(seen, []);
      const mine = await app.services.db.tenant(tenantId, (trx) => trx('fhir_observations').where({ id: vital.id }).select('source_table', 'deleted_at'));
      assert.deepEqual(mine, [{ source_table: 'vital_signs', deleted_at: null }]);

      // The control: the same view without its filter would show the other tenant this row.
      const client = await ownerClient();
      try {
        await client.query('begin');
        await client.query('create view unfiltered_vital_signs as select id from vital_signs');
        await client.query('grant select on unfiltered_vital_signs to cusp_app');
        await client.query("select set_config('role', 'cusp_app', true), set_config('cusp.tenant_id', $1, true)", [other.tenantId]);
        assert.equal((await client.query('select id from unfiltered_vital_signs where id = $1', [vital.id])).rowCount, 1);
        assert.equal((await client.query('select id from fhir_observations where id = $1', [vital.id])).rowCount, 0);
        assert.equal((await client.query('select id from vital_signs where id = $1', [vital.id])).rowCount, 0);
      } finally {
        await client.query('rollback');
        await client.end();
      }
    });
  });

  describe('CapabilityStatement', () => {
    it('lists Observation with its search parameters', async () => {
      const statement = (await app.request.get('/fhir/metadata').expect(200)).body;
      const observation = statement.rest[0].resource.find((r: { type: string }) => r.type === 'Observation');
      assert.deepEqual(observation.searchParam.map((p: { name: string }) => p.name).sort(),
        ['_id', '_lastUpdated', '_profile', '_security', '_tag', 'category', 'code', 'component-code', 'date', 'encounter', 'patient', 'performer', 'subject', 'value-quantity']);
    });
  });
});
