// FHIR search modifiers (https://hl7.org/fhir/R4/search.html#modifiers): token :text and
// :of-type, reference :identifier, uri :above/:below (not supported), and :missing beside them.
import assert from 'node:assert/strict';
import { conformanceDocuments } from '../src/fhir/conformance.ts';
import { startTestApp, tenantWithToken, type TestApp } from './support/app.ts';
import { fhirApi, type Json, type SearchBundle } from './support/fhir.ts';

const V2_0203 = 'http://terminology.hl7.org/CodeSystem/v2-0203';
const ENCOUNTER_TYPE = 'https://cusp.dental/fhir/CodeSystem/encounter-type';
const LOCATION_TYPE = 'https://cusp.dental/fhir/CodeSystem/location-type';
const LOINC = 'http://loinc.org';
const UCUM = 'http://unitsofmeasure.org';
const PERIO = 'https://cusp.dental/fhir/CodeSystem/perio';

const identifierOfType = (type: string, system: string, value: string) => ({ type: { coding: [{ system: V2_0203, code: type }] }, system, value });
const patient = (family: string, identifier: Json[]) => ({ resourceType: 'Patient', name: [{ family }], identifier });
const visit = (patientId: string, type: string, extra: Json = {}) => ({
  resourceType: 'Encounter', status: 'finished', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
  type: [{ coding: [{ system: ENCOUNTER_TYPE, code: type }] }], subject: { reference: `Patient/${patientId}` },
  period: { start: '2024-05-01T09:30:00Z', end: '2024-05-01T10:00:00Z' }, ...extra,
});
const site = (name: string, type?: string) => ({
  resourceType: 'Location', name, ...(type ? { type: [{ coding: [{ system: LOCATION_TYPE, code: type }] }] } : {}),
});
const measured = (patientId: string, category: string, elements: Json) => ({
  resourceType: 'Observation', status: 'final', category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: category }] }],
  subject: { reference: `Patient/${patientId}` }, effectiveDateTime: '2024-05-01T09:35:00Z', ...elements,
});
const mm = (value: number, code: string) => ({ value, unit: code, system: UCUM, code });

describe('FHIR search modifiers', () => {
  let app: TestApp;
  let token: string;
  const ids: Record<string, string> = {};
  const api = fhirApi(() => ({ app, token }));
  const of = (...names: string[]) => names.map((name) => ids[name]!).sort();
  const refused = async (query: string, parameter: string) => {
    const outcome = (await api.get(query).expect(400)).body;
    assert.deepEqual(outcome.issue.map((issue: { expression: string[] }) => issue.expression[0]), [parameter]);
    return outcome;
  };

  before(async () => {
    app = await startTestApp();
    ({ token } = await tenantWithToken(app, ['system/*.*']));
    const create = async (name: string, resource: Json) => { ids[name] = (await api.created(resource)).id; };
    await create('chart', patient('Okafor', [identifierOfType('MR', 'urn:mrn', 'M-1'), { system: 'urn:other', value: 'X-1' }]));
    await create('member', patient('Nunes', [identifierOfType('MB', 'urn:payer', 'M-1')]));
    await create('unsystemed', patient('Lee', [{ value: 'NOSYS-1' }]));
    await create('unidentified', patient('Smith', []));
    await create('clinic', site('Mission Street Dental', 'clinic'));
    await create('teaching', site('University Dental Clinic', 'teaching-clinic'));
    await create('untyped', site('Annex'));
    await create('exam', visit(ids.chart!, 'exam', { location: [{ location: { reference: `Location/${ids.clinic}` } }] }));
    await create('hygiene', visit(ids.member!, 'hygiene'));
    await create('ortho', visit(ids.unsystemed!, 'ortho'));
    await create('pulse', measured(ids.chart!, 'vital-signs', { code: { coding: [{ system: LOINC, code: '8867-4' }] }, valueQuantity: mm(72, '/min') }));
    await create('pressure', measured(ids.chart!, 'vital-signs', {
      code: { coding: [{ system: LOINC, code: '85354-9' }] },
      component: [
        { code: { coding: [{ system: LOINC, code: '8480-6' }] }, valueQuantity: mm(128, 'mm[Hg]') },
        { code: { coding: [{ system: LOINC, code: '8462-4' }] }, valueQuantity: mm(82, 'mm[Hg]') },
      ],
    }));
    await create('perio', measured(ids.chart!, 'exam', {
      code: { coding: [{ system: PERIO, code: 'perio-site-exam' }] },
      bodySite: {
        extension: [{ url: 'https://cusp.dental/fhir/StructureDefinition/perio-site', valueCoding: { system: 'https://cusp.dental/fhir/CodeSystem/perio-site', code: 'MB' } }],
        coding: [{ system: 'http://terminology.hl7.org/CodeSystem/ex-tooth', code: '36' }],
      },
      component: [{ code: { coding: [{ system: PERIO, code: 'pocket-depth' }] }, valueQuantity: mm(4.5, 'mm') }],
    }));
  });
  after(() => app.close());

  describe('token :text', () => {
    it('matches the start of the display of the code, ignoring case and accents', async () => {
      assert.deepEqual(await api.search('/Encounter?type:text=hyg'), of('hygiene'));
      assert.deepEqual(await api.search('/Encounter?type:text=ORTHODONTICS'), of('ortho'));
      assert.deepEqual(await api.search('/Encounter?type:text=Examinatión'), of('exam'));
      assert.deepEqual(await api.search('/Location?type:text=teaching%20cl'), of('teaching'));
    });

    it('does not match within the display, nor the code where the display differs', async () => {
      assert.deepEqual(await api.search('/Encounter?type:text=dontics'), []);
      // "Teaching clinic" does not start with "clinic".
      assert.deepEqual(await api.search('/Location?type:text=clinic'), of('clinic'));
      assert.deepEqual(await api.search('/Location?type:text=research'), []);
    });

    it('ORs comma-separated texts and ANDs repeated ones', async () => {
      assert.deepEqual(await api.search('/Encounter?type:text=hyg,ortho'), of('hygiene', 'ortho'));
      assert.deepEqual(await api.search('/Encounter?type:text=hyg&type:text=ortho'), []);
    });

    it('matches Observation codes, component codes and categories by their displays', async () => {
      assert.deepEqual(await api.search('/Observation?code:text=heart'), of('pulse'));
      assert.deepEqual(await api.search('/Observation?code:text=blood%20pressure'), of('pressure'));
      assert.deepEqual(await api.search('/Observation?code:text=periodontal'), of('perio'));
      assert.deepEqual(await api.search('/Observation?code:text=systolic'), []);
      assert.deepEqual(await api.search('/Observation?component-code:text=systolic'), of('pressure'));
      assert.deepEqual(await api.search('/Observation?component-code:text=probing'), of('perio'));
      assert.deepEqual(await api.search('/Observation?category:text=vital'), of('pulse', 'pressure'));
      assert.deepEqual(await api.search('/Observation?category:text=exam'), of('perio'));
    });

    it('is 400 on a parameter that has no display text, and ignored and reported under handling=lenient', async () => {
      const outcome = await refused('/Encounter?status:text=fin', 'status');
      assert.match(outcome.issue[0].diagnostics, /:text/);
      await refused('/Patient?identifier:text=medical', 'identifier');
      await refused('/Procedure?code:text=resin', 'code');
      const bundle = (await api.get('/Encounter?status:text=fin&type=hygiene').set('Prefer', 'handling=lenient').expect(200)).body as SearchBundle;
      assert.deepEqual(bundle.entry?.filter((e) => e.search.mode === 'match').map((e) => e.resource.id), [ids.hygiene]);
      assert.ok(bundle.entry?.some((e) => e.search.mode === 'outcome'));
    });

    it(':missing still applies to the parameter', async () => {
      assert.deepEqual(await api.search('/Location?type:missing=true'), of('untyped'));
      assert.deepEqual(await api.search('/Location?type:missing=false'), of('clinic', 'teaching'));
    });
  });

  describe('token :of-type', () => {
    it('matches an identifier by its type and value', async () => {
      assert.deepEqual(await api.search(`/Patient?identifier:of-type=${V2_0203}|MR|M-1`), of('chart'));
      assert.deepEqual(await api.search(`/Patient?identifier:of-type=${V2_0203}|MB|M-1`), of('member'));
      assert.deepEqual(await api.search(`/Patient?identifier:of-type=${V2_0203}|MR|M-1,${V2_0203}|MB|M-1`), of('chart', 'member'));
    });

    it('needs the type and the value on the same identifier', async () => {
      // Okafor has an MR identifier (M-1) and an untyped one.
      assert.deepEqual(await api.search(`/Patient?identifier:of-type=${V2_0203}|MR|X-1`), []);
    });

    it('finds nothing for another type, or the same code in another system', async () => {
      assert.deepEqual(await api.search(`/Patient?identifier:of-type=${V2_0203}|NI|M-1`), []);
      assert.deepEqual(await api.search('/Patient?identifier:of-type=http://example.org/identifier-type|MR|M-1'), []);
    });

    it('works at the end of a chain', async () => {
      assert.deepEqual(await api.search(`/Encounter?subject:Patient.identifier:of-type=${V2_0203}|MB|M-1`), of('hygiene'));
    });

    it('is 400 without all three parts, and on a parameter that is not a typed identifier', async () => {
      await refused('/Patient?identifier:of-type=MR|M-1', 'identifier:of-type');
      await refused(`/Patient?gender:of-type=${V2_0203}|MR|M-1`, 'gender');
    });

    it(':missing still applies to the parameter', async () => {
      assert.deepEqual(await api.search('/Patient?identifier:missing=true'), of('unidentified'));
      assert.deepEqual(await api.search('/Patient?identifier:missing=false'), of('chart', 'member', 'unsystemed'));
    });
  });

  describe('reference :identifier', () => {
    it('matches the resources whose referenced resource has the identifier', async () => {
      assert.deepEqual(await api.search('/Encounter?subject:identifier=urn:mrn|M-1'), of('exam'));
      assert.deepEqual(await api.search('/Encounter?subject:identifier=urn:payer|M-1'), of('hygiene'));
      assert.deepEqual(await api.search('/Encounter?subject:identifier=M-1'), of('exam', 'hygiene'));
      assert.deepEqual(await api.search('/Encounter?subject:identifier=|NOSYS-1'), of('ortho'));
      assert.deepEqual(await api.search('/Encounter?subject:identifier=urn:mrn|'), of('exam'));
      assert.deepEqual(await api.search('/Observation?patient:identifier=urn:mrn|M-1'), of('pulse', 'pressure', 'perio'));
    });

    it('finds nothing for an identifier no referenced resource has', async () => {
      assert.deepEqual(await api.search('/Encounter?subject:identifier=urn:mrn|M-2'), []);
      assert.deepEqual(await api.search('/Encounter?subject:identifier=urn:other|M-1'), []);
      assert.deepEqual(await api.search('/Observation?patient:identifier=urn:payer|M-1'), []);
    });

    it('ORs comma-separated identifiers', async () => {
      assert.deepEqual(await api.search('/Encounter?subject:identifier=urn:payer|M-1,|NOSYS-1'), of('hygiene', 'ortho'));
    });

    it('is 400 when no type the reference can point to has an identifier parameter', async () => {
      const outcome = await refused('/Encounter?location:identifier=op-3', 'location');
      assert.match(outcome.issue[0].diagnostics, /identifier/);
    });

    it(':missing still applies to the reference', async () => {
      assert.deepEqual(await api.search('/Encounter?location:missing=false'), of('exam'));
      assert.deepEqual(await api.search('/Encounter?location:missing=true'), of('hygiene', 'ortho'));
    });
  });

  describe('uri :above and :below', () => {
    it('are 400: no uri parameter supports them', async () => {
      await api.get('/Patient?_profile:below=http://example.org/fhir').expect(400);
      await api.get('/Patient?_profile:above=http://example.org/fhir/StructureDefinition/x').expect(400);
    });
  });

  describe('the SearchParameters published', () => {
    it('list the modifiers each parameter supports', () => {
      const bundle = conformanceDocuments()['SearchParameters.json'] as { entry: { resource: { url: string; modifier?: string[] } }[] };
      const modifiers = (url: string) => bundle.entry.find((e) => e.resource.url === `http://hl7.org/fhir/SearchParameter/${url}`)?.resource.modifier;
      assert.ok(modifiers('clinical-type')?.includes('text'));
      assert.ok(modifiers('Encounter-status')?.includes('not') && !modifiers('Encounter-status')?.includes('text'));
      assert.ok(modifiers('Patient-identifier')?.includes('ofType') && !modifiers('Patient-identifier')?.includes('text'));
      assert.ok(modifiers('Observation-category')?.includes('text'));
      assert.ok(modifiers('Encounter-subject')?.includes('identifier'));
      assert.ok(!modifiers('Encounter-location')?.includes('identifier'));
    });
  });
});
