// _tag, _profile and _security search (https://hl7.org/fhir/R4/search.html#all), and _summary /
// _elements in search and read (search.html#summary, search.html#elements, http.html#read).
import assert from 'node:assert/strict';
import { startTestApp, tenantWithToken, type TestApp } from './support/app.ts';
import { dentalPatient, fhirApi, type Json } from './support/fhir.ts';

const RECALL = 'https://cusp.dental/fhir/CodeSystem/recall';
const CAMPAIGN = 'https://cusp.dental/fhir/CodeSystem/campaign';
const CONFIDENTIALITY = 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality';
const DENTAL_PATIENT = 'https://cusp.dental/fhir/StructureDefinition/dental-patient';
const US_CORE_PATIENT = 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient';
const SUBSETTED = 'SUBSETTED';
const NARRATIVE = { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">Adaeze Okafor, born 14 June 1987</div>' };

const subsetted = (resource: Json) => (resource.meta?.tag ?? []).some((tag: { code: string }) => tag.code === SUBSETTED);
const elements = (resource: Json) => Object.keys(resource).sort();

/** A vital sign taken at the chair: the pulse before sedation. */
function pulse(patientId: string, meta?: Json): Json {
  return {
    resourceType: 'Observation',
    ...(meta ? { meta } : {}),
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
    code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }] },
    subject: { reference: `Patient/${patientId}` },
    effectiveDateTime: '2024-05-01T09:35:00Z',
    valueQuantity: { value: 72, unit: 'beats/minute', system: 'http://unitsofmeasure.org', code: '/min' },
    note: [{ text: 'Pre-sedation vitals, patient seated' }],
  };
}

describe('FHIR _tag, _profile and _security search, _summary and _elements', () => {
  let app: TestApp;
  let token: string;
  let otherToken: string;
  const api = fhirApi(() => ({ app, token }));
  const other = fhirApi(() => ({ app, token: otherToken }));
  const ids: Record<string, string> = {};
  const expectIds = async (query: string, keys: string[]) => assert.deepEqual(await api.search(query), keys.map((key) => ids[key]!).sort(), query);

  before(async () => {
    app = await startTestApp();
    ({ token } = await tenantWithToken(app, ['system/*.*']));
    ({ token: otherToken } = await tenantWithToken(app, ['system/*.*']));
    const patients: Record<string, Json | undefined> = {
      // A recall patient of the spring campaign, flagged restricted.
      spring: { tag: [{ system: RECALL, code: 'due' }, { system: CAMPAIGN, code: 'spring-2024' }], profile: [DENTAL_PATIENT], security: [{ system: CONFIDENTIALITY, code: 'R' }] },
      // Due by another system's code, and a local tag without a system.
      local: { tag: [{ system: CAMPAIGN, code: 'due' }, { code: 'needs-xray' }], profile: [US_CORE_PATIENT, DENTAL_PATIENT] },
      // "due" without a system; normal confidentiality.
      bare: { tag: [{ code: 'due' }], security: [{ system: CONFIDENTIALITY, code: 'N' }] },
      plain: undefined,
    };
    for (const [key, meta] of Object.entries(patients)) {
      ids[key] = (await api.created(dentalPatient(meta ? { meta } : {}))).id;
    }
    ids.tagged = (await api.created(pulse(ids.spring!, { tag: [{ system: RECALL, code: 'pre-op' }] }))).id;
    ids.untagged = (await api.created(pulse(ids.plain!))).id;
    await other.created(dentalPatient({ meta: { tag: [{ system: RECALL, code: 'due' }], profile: [DENTAL_PATIENT] } }));
  });
  after(() => app.close());

  describe('_tag (token)', () => {
    it('code matches the tag in any system, or none', () => expectIds('/Patient?_tag=due', ['spring', 'local', 'bare']));
    it('system|code matches the code in that system only', async () => {
      await expectIds(`/Patient?_tag=${RECALL}|due`, ['spring']);
      await expectIds(`/Patient?_tag=${CAMPAIGN}|due`, ['local']);
      await expectIds(`/Patient?_tag=${RECALL}|spring-2024`, []);
    });
    it('|code matches a tag that has no system', async () => {
      await expectIds('/Patient?_tag=|due', ['bare']);
      await expectIds('/Patient?_tag=|needs-xray', ['local']);
      await expectIds('/Patient?_tag=|spring-2024', []);
    });
    it('system| matches any code of the system', () => expectIds(`/Patient?_tag=${CAMPAIGN}|`, ['spring', 'local']));
    it('values separated by commas are alternatives; repeated parameters must all match', async () => {
      await expectIds(`/Patient?_tag=${RECALL}|due,|due`, ['spring', 'bare']);
      await expectIds(`/Patient?_tag=${CAMPAIGN}|&_tag=${RECALL}|`, ['spring']);
    });
    it(':not keeps the resources without a matching tag, untagged ones included', () =>
      expectIds(`/Patient?_tag:not=${RECALL}|due`, ['local', 'bare', 'plain']));
    it(':missing tells tagged resources from the others', async () => {
      await expectIds('/Patient?_tag:missing=true', ['plain']);
      await expectIds('/Patient?_tag:missing=false', ['spring', 'local', 'bare']);
    });
    it('a modifier this server does not implement is refused', async () => {
      const res = await api.get('/Patient?_tag:text=due').expect(400);
      assert.equal(res.body.resourceType, 'OperationOutcome');
    });
  });

  describe('_profile (uri) and _security (token)', () => {
    it('_profile matches the whole canonical URL exactly', async () => {
      await expectIds(`/Patient?_profile=${DENTAL_PATIENT}`, ['spring', 'local']);
      await expectIds(`/Patient?_profile=${US_CORE_PATIENT}`, ['local']);
      await expectIds('/Patient?_profile=https://cusp.dental/fhir/StructureDefinition', []);
      await expectIds('/Patient?_profile:missing=true', ['bare', 'plain']);
    });
    it('_security matches security labels as tokens', async () => {
      await expectIds(`/Patient?_security=${CONFIDENTIALITY}|R`, ['spring']);
      await expectIds('/Patient?_security=N', ['bare']);
      await expectIds(`/Patient?_security:not=${CONFIDENTIALITY}|R`, ['local', 'bare', 'plain']);
      await expectIds('/Patient?_security=due', []);
    });
    it('combines with the other meta parameters and with the type\'s own', async () => {
      await expectIds(`/Patient?_tag=due&_profile=${US_CORE_PATIENT}`, ['local']);
      await expectIds(`/Patient?_tag=due&_id=${ids.bare}`, ['bare']);
    });
  });

  describe('on a type over several tables, in chains and _has', () => {
    it('Observation (the fhir_observations view) is searched by its tags', async () => {
      await expectIds(`/Observation?_tag=${RECALL}|pre-op`, ['tagged']);
      await expectIds('/Observation?_tag:missing=true', ['untagged']);
    });
    it('a chain reaches the tags of the referenced resource', () =>
      expectIds(`/Observation?subject:Patient._tag=${RECALL}|due`, ['tagged']));
    it('_has reaches the tags of the referring resource', () =>
      expectIds(`/Patient?_has:Observation:subject:_tag=${RECALL}|pre-op`, ['spring']));
  });

  describe('writes and tenants', () => {
    it('another tenant\'s tagged resources are never found', async () => {
      assert.deepEqual(await other.search(`/Patient?_tag=${RECALL}|due`), [(await other.search('/Patient'))[0]]);
      await expectIds(`/Patient?_tag=${RECALL}|due`, ['spring']);
    });
    it('an update that drops the meta drops the resource from the tag\'s matches', async () => {
      const { id } = await api.created(dentalPatient({ meta: { tag: [{ system: RECALL, code: 'overdue' }] } }));
      assert.deepEqual(await api.search(`/Patient?_tag=${RECALL}|overdue`), [id]);
      await api.put(`/Patient/${id}`, dentalPatient({ id })).expect(200);
      assert.deepEqual(await api.search(`/Patient?_tag=${RECALL}|overdue`), []);
    });
  });

  describe('CapabilityStatement', () => {
    it('lists _tag, _profile and _security for every type, with their R4 definitions', async () => {
      const { body } = await api.get('/metadata').expect(200);
      for (const resource of body.rest[0].resource as { type: string; searchParam: { name: string; type: string; definition: string }[] }[]) {
        const found = Object.fromEntries(resource.searchParam.map((p) => [p.name, p]));
        assert.equal(found._tag?.definition, 'http://hl7.org/fhir/SearchParameter/Resource-tag', resource.type);
        assert.equal(found._tag?.type, 'token');
        assert.equal(found._profile?.definition, 'http://hl7.org/fhir/SearchParameter/Resource-profile', resource.type);
        assert.equal(found._profile?.type, 'uri');
        assert.equal(found._security?.definition, 'http://hl7.org/fhir/SearchParameter/Resource-security', resource.type);
        assert.equal(found._security?.type, 'token');
      }
    });
    it('every type it lists answers them', async () => {
      const { body } = await api.get('/metadata').expect(200);
      for (const { type } of body.rest[0].resource as { type: string }[]) {
        const res = await api.get(`/${type}?_tag=${RECALL}|due&_profile=${DENTAL_PATIENT}&_security:missing=false`);
        assert.equal(res.status, 200, `${type}: ${JSON.stringify(res.body)}`);
        assert.equal(res.body.entry?.length ?? 0, type === 'Patient' ? 1 : 0, type);
      }
    });
  });

  describe('_summary in search', () => {
    let narrated: string;
    before(async () => {
      narrated = (await api.created(dentalPatient({ text: NARRATIVE, meta: { tag: [{ system: CAMPAIGN, code: 'autumn-2024' }] } }))).id;
    });
    const only = async (query: string): Promise<Json> => {
      const entries = (await api.bundle(query)).entry ?? [];
      assert.equal(entries.length, 1, query);
      return entries[0]!.resource;
    };

    it('_summary=true keeps the summary elements and marks the resource SUBSETTED', async () => {
      const resource = await only(`/Patient?_id=${narrated}&_summary=true`);
      assert.deepEqual(elements(resource), ['active', 'address', 'birthDate', 'gender', 'id', 'identifier', 'meta', 'name', 'resourceType', 'telecom']);
      assert.ok(subsetted(resource));
      // The resource's own tags stay, SUBSETTED is added beside them.
      assert.ok(resource.meta.tag.some((tag: Json) => tag.code === 'autumn-2024'));
      assert.equal(resource.name[0].family, 'Okafor');
    });
    it('_summary=true keeps a choice element (value[x]) and drops what is not summary', async () => {
      const resource = await only(`/Observation?_id=${ids.tagged}&_summary=true`);
      assert.deepEqual(elements(resource), ['code', 'effectiveDateTime', 'id', 'meta', 'resourceType', 'status', 'subject', 'valueQuantity']);
      assert.ok(subsetted(resource));
    });
    it('_summary=text keeps text, id, meta and the mandatory elements', async () => {
      const patient = await only(`/Patient?_id=${narrated}&_summary=text`);
      assert.deepEqual(elements(patient), ['id', 'meta', 'resourceType', 'text']);
      assert.deepEqual(patient.text, NARRATIVE);
      assert.ok(subsetted(patient));
      const observation = await only(`/Observation?_id=${ids.tagged}&_summary=text`);
      assert.deepEqual(elements(observation), ['code', 'id', 'meta', 'resourceType', 'status']);
    });
    it('_summary=data drops only the text; _summary=false keeps everything', async () => {
      const data = await only(`/Patient?_id=${narrated}&_summary=data`);
      assert.equal(data.text, undefined);
      assert.ok(data.communication && data.extension && subsetted(data));
      const full = await only(`/Patient?_id=${narrated}&_summary=false`);
      assert.deepEqual(full.text, NARRATIVE);
      assert.ok(!subsetted(full));
    });
    it('_summary=count gives the total and no resources', async () => {
      const bundle = await api.bundle('/Patient?_tag=due&_summary=count');
      assert.equal(bundle.total, 3);
      assert.deepEqual(bundle.entry ?? [], []);
    });
    it('included resources are summarised too', async () => {
      const bundle = await api.bundle(`/Observation?_id=${ids.tagged}&_include=Observation:subject&_summary=true`);
      const included = bundle.entry!.find((entry) => entry.search.mode === 'include')!.resource;
      assert.equal(included.id, ids.spring);
      assert.equal(included.communication, undefined);
      assert.ok(subsetted(included));
    });
  });

  describe('_summary and _elements on read', () => {
    it('a plain read is the whole resource, not SUBSETTED', async () => {
      const { body } = await api.get(`/Patient/${ids.spring}`).expect(200);
      assert.ok(body.communication);
      assert.ok(!subsetted(body));
    });
    it('_summary=true', async () => {
      const res = await api.get(`/Patient/${ids.spring}?_summary=true`).expect(200);
      assert.ok(res.body.identifier && res.body.name);
      assert.equal(res.body.communication, undefined);
      assert.equal(res.body.maritalStatus, undefined);
      assert.equal(res.body.extension, undefined);
      assert.ok(subsetted(res.body));
      assert.deepEqual(res.body.meta.profile, [DENTAL_PATIENT]);
      assert.match(res.get('etag') ?? '', /^W\/"\d+"$/);
    });
    it('_summary=text', async () => {
      const { body } = await api.get(`/Observation/${ids.tagged}?_summary=text`).expect(200);
      assert.deepEqual(elements(body), ['code', 'id', 'meta', 'resourceType', 'status']);
    });
    it('_elements keeps the elements asked for, id and meta', async () => {
      const { body } = await api.get(`/Observation/${ids.tagged}?_elements=value,note`).expect(200);
      assert.deepEqual(elements(body), ['id', 'meta', 'note', 'resourceType', 'valueQuantity']);
      assert.ok(subsetted(body));
    });
    it('_summary=count and malformed values are 400', async () => {
      await api.get(`/Patient/${ids.spring}?_summary=count`).expect(400);
      await api.get(`/Patient/${ids.spring}?_summary=brief`).expect(400);
      await api.get(`/Patient/${ids.spring}?_elements=name,,gender`).expect(400);
    });
  });
});
