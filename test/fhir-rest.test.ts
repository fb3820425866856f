import assert from 'node:assert/strict';
import { ownerClient } from './support/database.ts';
import { startTestApp, tenantWithToken, PUBLIC_BASE_URL, type TestApp } from './support/app.ts';
import { content, dentalPatient, fhirApi } from './support/fhir.ts';

const FHIR = `${PUBLIC_BASE_URL}/fhir`;

describe('FHIR RESTful interactions (http.html)', () => {
  let app: TestApp;
  let token: string;
  let tenantId: string;

  before(async () => {
    app = await startTestApp();
    ({ token, tenantId } = await tenantWithToken(app, ['system/*.*']));
  });
  after(() => app.close());

  const api = fhirApi(() => ({ app, token }));
  const createPatient = async (overrides = {}) => (await api.post('/Patient', dentalPatient(overrides)).expect(201)).body;
  const versionCount = () => app.services.db.tenant(tenantId, (trx) => trx('resource_versions').count({ n: '*' })).then((r) => Number(r[0]?.n));

  describe('create', () => {
    it('answers 201 with Location, ETag and the stored resource', async () => {
      const written = dentalPatient();
      const res = await api.post('/Patient', written).expect(201).expect('content-type', /application\/fhir\+json/);
      const { id, meta } = res.body;
      assert.match(id, /^[0-9a-f-]{36}$/);
      assert.equal(meta.versionId, '1');
      assert.ok(!Number.isNaN(Date.parse(meta.lastUpdated)));
      assert.equal(res.headers.location, `${FHIR}/Patient/${id}/_history/1`);
      assert.equal(res.headers.etag, 'W/"1"');
      assert.deepEqual(content(res.body), written);
    });

    it('reads back exactly what was written, elements without columns included', async () => {
      const written = dentalPatient();
      const created = (await api.post('/Patient', written).expect(201)).body;
      const res = await api.get(`/Patient/${created.id}`).expect(200);
      assert.deepEqual(content(res.body), written);
      assert.equal(res.headers.etag, 'W/"1"');
    });

    it('keeps meta tags and profiles, and ignores a client id', async () => {
      const meta = { profile: ['http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient'], tag: [{ system: 'urn:cusp:test', code: 'sync' }] };
      const created = (await api.post('/Patient', { ...dentalPatient(), id: 'client-chosen', meta }).expect(201)).body;
      assert.notEqual(created.id, 'client-chosen');
      const read = (await api.get(`/Patient/${created.id}`).expect(200)).body;
      assert.deepEqual(read.meta.profile, meta.profile);
      assert.deepEqual(read.meta.tag, meta.tag);
    });

    it('Prefer: return=minimal answers without a body; return=OperationOutcome with one', async () => {
      const minimal = await api.post('/Patient', dentalPatient()).set('Prefer', 'return=minimal').expect(201);
      assert.equal(minimal.text, '');
      assert.match(minimal.headers.location ?? '', /\/Patient\/[0-9a-f-]{36}\/_history\/1$/);
      const outcome = await api.post('/Patient', dentalPatient()).set('Prefer', 'return=OperationOutcome').expect(201);
      assert.equal(outcome.body.resourceType, 'OperationOutcome');
    });
  });

  describe('bad input changes nothing', () => {
    const rejected = async (request: () => Promise<{ status: number; body: { resourceType: string; issue: { expression?: string[] }[] } }>, status: number, expression?: string) => {
      const before = await versionCount();
      const res = await request();
      assert.equal(res.status, status);
      assert.equal(res.body.resourceType, 'OperationOutcome');
      if (expression) assert.ok(res.body.issue.some((i) => i.expression?.includes(expression)), JSON.stringify(res.body));
      assert.equal(await versionCount(), before);
    };

    it('malformed JSON is 400', () => rejected(
      () => app.request.post('/fhir/Patient').auth(token, { type: 'bearer' }).type('application/fhir+json').send('{"resourceType": "Patient",'), 400));
    it('a body of another resource type is 400', () => rejected(() => api.post('/Patient', { resourceType: 'Observation' }), 400, 'resourceType'));
    it('an unknown element is 400 naming it', () => rejected(() => api.post('/Patient', { ...dentalPatient(), favouriteTooth: '11' }), 400, 'Patient.favouriteTooth'));
    it('a wrong type is 400 naming the element', () => rejected(() => api.post('/Patient', { ...dentalPatient(), birthDate: 19870614 }), 400, 'Patient.birthDate'));
    it('an invalid code is 400 naming the element', () => rejected(() => api.post('/Patient', { ...dentalPatient(), gender: 'F' }), 400, 'Patient.gender'));
    it('an impossible date is 400', () => rejected(() => api.post('/Patient', { ...dentalPatient(), birthDate: '1987-13-40' }), 400, 'Patient.birthDate'));
    it('a body that is not FHIR JSON is 415', () => rejected(
      () => app.request.post('/fhir/Patient').auth(token, { type: 'bearer' }).type('text/plain').send('hello'), 415));
    it('an update whose id differs from the URL is 400', async () => {
      const created = await createPatient();
      await rejected(() => api.put(`/Patient/${created.id}`, { ...dentalPatient(), id: '8a0e6c36-0000-4000-8000-000000000000' }), 400, 'Patient.id');
    });
    it('an update without an id is 400', async () => {
      const created = await createPatient();
      await rejected(() => api.put(`/Patient/${created.id}`, dentalPatient()), 400, 'Patient.id');
    });
  });

  describe('read and vread', () => {
    it('an unknown id is 404', async () => {
      await api.get('/Patient/5b7c1e9a-5d4f-4c1c-9a55-0d8f5e2d4a11').expect(404);
      await api.get('/Patient/not-a-uuid').expect(404);
    });

    it('If-None-Match with the current ETag is 304; another is 200', async () => {
      const created = await createPatient();
      await api.get(`/Patient/${created.id}`).set('If-None-Match', 'W/"1"').expect(304);
      await api.get(`/Patient/${created.id}`).set('If-None-Match', 'W/"7"').expect(200);
    });

    it('If-Modified-Since after the last update is 304', async () => {
      const created = await createPatient();
      const later = new Date(Date.parse(created.meta.lastUpdated) + 2000).toUTCString();
      const earlier = new Date(Date.parse(created.meta.lastUpdated) - 60_000).toUTCString();
      await api.get(`/Patient/${created.id}`).set('If-Modified-Since', later).expect(304);
      await api.get(`/Patient/${created.id}`).set('If-Modified-Since', earlier).expect(200);
    });

    it('vread returns an earlier version as it was', async () => {
      const created = await createPatient();
      await api.put(`/Patient/${created.id}`, { ...dentalPatient(), id: created.id, birthDate: '1987-06-15' }).expect(200);
      const v1 = (await api.get(`/Patient/${created.id}/_history/1`).expect(200)).body;
      const v2 = (await api.get(`/Patient/${created.id}/_history/2`).expect(200)).body;
      assert.equal(v1.birthDate, '1987-06-14');
      assert.equal(v2.birthDate, '1987-06-15');
      await api.get(`/Patient/${created.id}/_history/3`).expect(404);
    });

    it('negotiates the format: JSON is served, XML is 406', async () => {
      const created = await createPatient();
      await api.get(`/Patient/${created.id}`).set('Accept', 'application/fhir+xml').expect(406);
      await api.get(`/Patient/${created.id}?_format=xml`).expect(406);
      await api.get(`/Patient/${created.id}?_format=json`).expect(200);
      await api.get(`/Patient/${created.id}`).set('Accept', 'application/json').expect(200);
      const pretty = await api.get(`/Patient/${created.id}?_pretty=true`).expect(200);
      assert.match(pretty.text, /^\{\n {2}"resourceType"/);
    });
  });

  describe('update', () => {
    it('makes a new version; If-Match on the current version succeeds, on another is 412', async () => {
      const created = await createPatient();
      const updated = await api.put(`/Patient/${created.id}`, { ...dentalPatient(), id: created.id, gender: 'other' }).set('If-Match', 'W/"1"').expect(200);
      assert.equal(updated.body.meta.versionId, '2');
      assert.equal(updated.body.gender, 'other');
      await api.put(`/Patient/${created.id}`, { ...dentalPatient(), id: created.id }).set('If-Match', 'W/"1"').expect(412);
      assert.equal((await api.get(`/Patient/${created.id}`)).body.meta.versionId, '2');
    });

    it('update as create: a new UUID id is 201, any other id is 400', async () => {
      const id = 'c0a8012e-7f3a-4c55-9e1b-2f6d1b7a9e01';
      const res = await api.put(`/Patient/${id}`, { ...dentalPatient(), id }).expect(201);
      assert.equal(res.body.id, id);
      assert.equal(res.body.meta.versionId, '1');
      await api.put('/Patient/patient-17', { ...dentalPatient(), id: 'patient-17' }).expect(400);
    });

    it('removing an element removes it', async () => {
      const created = await createPatient();
      const { extension: _e, maritalStatus: _m, telecom: _t, ...rest } = dentalPatient();
      const updated = (await api.put(`/Patient/${created.id}`, { ...rest, id: created.id }).expect(200)).body;
      assert.equal(updated.extension, undefined);
      assert.equal(updated.maritalStatus, undefined);
      assert.equal(updated.telecom, undefined);
      assert.deepEqual(content((await api.get(`/Patient/${created.id}`)).body), rest);
    });
  });

  describe('delete', () => {
    it('204, then 410 on read; earlier versions stay readable', async () => {
      const created = await createPatient();
      await api.delete(`/Patient/${created.id}`).expect(204);
      const res = await api.get(`/Patient/${created.id}`).expect(410);
      assert.equal(res.body.issue[0].code, 'deleted');
      await api.get(`/Patient/${created.id}/_history/1`).expect(200);
      await api.get(`/Patient/${created.id}/_history/2`).expect(410);
      await api.delete(`/Patient/${created.id}`).expect(204);
    });

    it('an update brings a deleted resource back as a new version', async () => {
      const created = await createPatient();
      await api.delete(`/Patient/${created.id}`).expect(204);
      const revived = await api.put(`/Patient/${created.id}`, { ...dentalPatient(), id: created.id }).expect(201);
      assert.equal(revived.body.meta.versionId, '3');
      await api.get(`/Patient/${created.id}`).expect(200);
    });
  });

  describe('versions made by other writers (plain SQL)', () => {
    it('an UPDATE of the table is a new version, and the table wins over the residual', async () => {
      const created = await createPatient();
      const client = await ownerClient();
      try {
        await client.query("update patients set last_name = 'Okafor-Bello' where tenant_id = $1 and id = $2", [tenantId, created.id]);
        await client.query("update patient_addresses set city = 'Oakland' where tenant_id = $1 and patient_id = $2", [tenantId, created.id]);
      } finally {
        await client.end();
      }
      const read = (await api.get(`/Patient/${created.id}`).expect(200)).body;
      assert.equal(read.meta.versionId, '3');
      assert.equal(read.name[0].family, 'Okafor-Bello');
      assert.equal(read.address[0].city, 'Oakland');
      // Elements the columns do not touch keep what the client wrote.
      assert.deepEqual(read.extension, dentalPatient().extension);
      assert.equal((await api.get(`/Patient/${created.id}/_history/1`)).body.name[0].family, 'Okafor');
    });
  });

  describe('history', () => {
    it('instance history lists every version newest first, deletion included', async () => {
      const created = await createPatient();
      await api.put(`/Patient/${created.id}`, { ...dentalPatient(), id: created.id, birthDate: '1990-01-01' }).expect(200);
      await api.delete(`/Patient/${created.id}`).expect(204);
      const bundle = (await api.get(`/Patient/${created.id}/_history`).expect(200)).body;
      assert.equal(bundle.resourceType, 'Bundle');
      assert.equal(bundle.type, 'history');
      assert.deepEqual(bundle.entry.map((e: { request: { method: string } }) => e.request.method), ['DELETE', 'PUT', 'POST']);
      assert.deepEqual(bundle.entry.map((e: { response: { etag: string } }) => e.response.etag), ['W/"3"', 'W/"2"', 'W/"1"']);
      assert.equal(bundle.entry[0].resource, undefined);
      assert.equal(bundle.entry[1].resource.birthDate, '1990-01-01');
    });

    it('type history with _since shows only later changes; _count pages with a next link', async () => {
      const fresh = await tenantWithToken(app, ['system/*.*']);
      const post = (body: unknown) => app.request.post('/fhir/Patient').auth(fresh.token, { type: 'bearer' }).type('application/fhir+json').send(JSON.stringify(body));
      for (let i = 0; i < 3; i++) await post(dentalPatient()).expect(201);
      const cutoff = new Date().toISOString();
      await new Promise((resolve) => setTimeout(resolve, 20));
      for (let i = 0; i < 2; i++) await post(dentalPatient()).expect(201);
      const since = (await app.request.get(`/fhir/Patient/_history?_since=${cutoff}`).auth(fresh.token, { type: 'bearer' }).expect(200)).body;
      assert.equal(since.entry.length, 2);

      const seen: string[] = [];
      let next: string | undefined = '/fhir/Patient/_history?_count=2';
      while (next) {
        const page: { body: { entry: { resource: { id: string } }[]; link: { relation: string; url: string }[] } } =
          await app.request.get(next).auth(fresh.token, { type: 'bearer' }).expect(200);
        seen.push(...page.body.entry.map((e) => e.resource.id));
        const link = page.body.link.find((l) => l.relation === 'next')?.url;
        next = link?.replace(PUBLIC_BASE_URL, '');
      }
      assert.equal(seen.length, 5);
      assert.equal(new Set(seen).size, 5);
    });

    it('system history shows only this tenant', async () => {
      const other = await tenantWithToken(app, ['system/*.*']);
      const created = await createPatient();
      const bundle = (await app.request.get('/fhir/_history').auth(other.token, { type: 'bearer' }).expect(200)).body;
      assert.ok(!JSON.stringify(bundle).includes(created.id));
      const mine = (await api.get('/_history?_count=5').expect(200)).body;
      assert.ok(mine.entry.length > 0);
    });

    it('an unknown history parameter is 400', async () => {
      await api.get('/Patient/_history?_sinse=2020').expect(400);
    });
  });

  describe('audit', () => {
    it('a read, a create and a failed create each leave one audit event', async () => {
      const created = await createPatient();
      await api.get(`/Patient/${created.id}`).expect(200);
      await api.post('/Patient', { resourceType: 'Patient', birthDate: 'yesterday' }).expect(400);
      const events = await app.services.db.tenant(tenantId, (trx) => trx('audit_events').where({ resource_type: 'Patient' }).orderBy('timestamp'));
      const forCreated = events.filter((e) => e.resource_id === created.id).map((e) => e.event_type);
      assert.deepEqual(forCreated, ['FHIR_CREATE', 'FHIR_READ']);
      assert.ok(events.some((e) => e.event_type === 'FHIR_CREATE' && e.outcome === 'FAILURE'));
    });

    it('a request the scopes refuse is audited as a failure with its status', async () => {
      const reader = await tenantWithToken(app, ['system/Patient.read']);
      await app.request.delete('/fhir/Patient/8f3b2c1d-0000-4000-8000-000000000001').auth(reader.token, { type: 'bearer' }).expect(403);
      const events = await app.services.db.tenant(reader.tenantId, (trx) => trx('audit_events').where({ event_type: 'FHIR_DELETE' }));
      assert.deepEqual(events.map((e) => [e.outcome, e.metadata.status]), [['FAILURE', 403]]);
    });
  });

  describe('tenants', () => {
    it("another tenant cannot read, update or delete this tenant's patient, nor learn it exists", async () => {
      const created = await createPatient();
      const other = await tenantWithToken(app, ['system/*.*']);
      const as = (req: ReturnType<typeof app.request.get>) => req.auth(other.token, { type: 'bearer' });
      await as(app.request.get(`/fhir/Patient/${created.id}`)).expect(404);
      await as(app.request.get(`/fhir/Patient/${created.id}/_history`)).expect(200).expect((res) => assert.deepEqual(res.body.entry, []));
      // Writing under the same id makes the other tenant's own, separate resource.
      await as(app.request.put(`/fhir/Patient/${created.id}`)).type('application/fhir+json')
        .send(JSON.stringify({ ...dentalPatient(), id: created.id, birthDate: '2001-01-01' })).expect(201);
      await as(app.request.delete(`/fhir/Patient/${created.id}`)).expect(204);
      const mine = (await api.get(`/Patient/${created.id}`).expect(200)).body;
      assert.equal(mine.birthDate, '1987-06-14');
      assert.equal(mine.meta.versionId, '1');
    });
  });

  describe('CapabilityStatement', () => {
    it('lists Patient with exactly the interactions that are routed', async () => {
      const statement = (await app.request.get('/fhir/metadata').expect(200)).body;
      const patient = statement.rest[0].resource.find((r: { type: string }) => r.type === 'Patient');
      assert.deepEqual(patient.interaction.map((i: { code: string }) => i.code).sort(),
        ['create', 'delete', 'history-instance', 'history-type', 'patch', 'read', 'search-type', 'update', 'vread']);
      assert.equal(patient.conditionalCreate, true);
      assert.equal(patient.conditionalUpdate, true);
      assert.equal(patient.conditionalDelete, 'single');
      assert.equal(patient.conditionalRead, 'full-support');
      const searchParams = patient.searchParam.map((p: { name: string }) => p.name);
      for (const name of ['_id', '_lastUpdated', 'name', 'family', 'birthdate', 'gender', 'identifier']) assert.ok(searchParams.includes(name), name);
      assert.deepEqual(statement.rest[0].interaction.map((i: { code: string }) => i.code), ['transaction', 'batch', 'history-system']);
      assert.equal(patient.versioning, 'versioned');
    });
  });
});
