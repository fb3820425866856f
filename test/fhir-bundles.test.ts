import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { startTestApp, tenantWithToken, type TestApp } from './support/app.ts';
import { dentalPatient } from './support/fhir.ts';

type Entry = Record<string, unknown>;
const bundle = (type: 'transaction' | 'batch', entry: Entry[]) => ({ resourceType: 'Bundle', type, entry });
const postEntry = (resource: object, fullUrl = `urn:uuid:${randomUUID()}`, ifNoneExist?: string) =>
  ({ fullUrl, resource, request: { method: 'POST', url: 'Patient', ...(ifNoneExist ? { ifNoneExist } : {}) } });

describe('batch and transaction (bundle.html, http.html#transaction)', () => {
  let app: TestApp;
  let token: string;
  let tenantId: string;

  before(async () => {
    app = await startTestApp();
    ({ token, tenantId } = await tenantWithToken(app, ['system/*.*']));
  });
  after(() => app.close());

  const send = (body: unknown, as = token) => app.request.post('/fhir').auth(as, { type: 'bearer' }).type('application/fhir+json').send(JSON.stringify(body));
  const patientCount = async () => Number((await app.services.db.tenant(tenantId, (trx) => trx('patients').count({ n: '*' })))[0]?.n);

  describe('transaction', () => {
    it('creates entries atomically and resolves urn:uuid references between them', async () => {
      const mother = postEntry(dentalPatient({ name: [{ family: 'Mensah', given: ['Efua'] }] }));
      const child = postEntry(dentalPatient({ name: [{ family: 'Mensah', given: ['Kojo'] }], link: [{ other: { reference: mother.fullUrl }, type: 'seealso' }] }));
      const res = await send(bundle('transaction', [child, mother])).expect(200);
      assert.equal(res.body.type, 'transaction-response');
      assert.deepEqual(res.body.entry.map((e: { response: { status: string } }) => e.response.status), ['201 Created', '201 Created']);
      const [childId, motherId] = res.body.entry.map((e: { resource: { id: string } }) => e.resource.id);
      const stored = (await app.request.get(`/fhir/Patient/${childId}`).auth(token, { type: 'bearer' }).expect(200)).body;
      assert.equal(stored.link[0].other.reference, `Patient/${motherId}`);
      assert.match(res.body.entry[0].response.location, new RegExp(`/Patient/${childId}/_history/1$`));
    });

    it('a 100-entry transaction whose last entry fails leaves nothing behind', async () => {
      const before = await patientCount();
      const entries = Array.from({ length: 99 }, () => postEntry(dentalPatient({ identifier: [{ system: 'urn:tx', value: randomUUID() }] })));
      entries.push(postEntry({ ...dentalPatient(), birthDate: 'not-a-date' }));
      const res = await send(bundle('transaction', entries)).expect(400);
      assert.equal(res.body.resourceType, 'OperationOutcome');
      assert.match(res.body.issue[0].diagnostics, /Bundle\.entry\[99\]/);
      assert.equal(await patientCount(), before);
    });

    it('a 1,000-entry transaction works', async function () {
      this.timeout(120_000);
      const before = await patientCount();
      const entries = Array.from({ length: 1000 }, (_, i) => postEntry(dentalPatient({ identifier: [{ system: 'urn:bulk', value: `B-${i}` }] })));
      const res = await send(bundle('transaction', entries)).set('Prefer', 'return=minimal').expect(200);
      assert.equal(res.body.entry.length, 1000);
      assert.equal(await patientCount(), before + 1000);
    });

    it('processes DELETE, POST, PUT, then GET, and resolves conditional creates and references', async () => {
      const existing = (await send(bundle('transaction', [postEntry(dentalPatient({ identifier: [{ system: 'urn:cond', value: 'K-1' }] }))])).expect(200)).body.entry[0].resource;
      const doomed = (await send(bundle('transaction', [postEntry(dentalPatient())])).expect(200)).body.entry[0].resource;
      const newId = randomUUID();
      const entries = [
        { request: { method: 'GET', url: `Patient/${newId}` } },
        { fullUrl: `urn:uuid:${randomUUID()}`, resource: { ...dentalPatient(), id: newId, link: [{ other: { reference: 'Patient?identifier=urn:cond|K-1' }, type: 'seealso' }] }, request: { method: 'PUT', url: `Patient/${newId}` } },
        postEntry(dentalPatient({ identifier: [{ system: 'urn:cond', value: 'K-1' }] }), `urn:uuid:${randomUUID()}`, 'identifier=urn:cond|K-1'),
        { request: { method: 'DELETE', url: `Patient/${doomed.id}` } },
      ];
      const res = await send(bundle('transaction', entries)).expect(200);
      const statuses = res.body.entry.map((e: { response: { status: string } }) => e.response.status);
      assert.deepEqual(statuses, ['200 OK', '201 Created', '200 OK', '204 No Content']);
      assert.equal(res.body.entry[0].resource.id, newId, 'the GET ran after the PUT');
      assert.equal(res.body.entry[2].resource.id, existing.id, 'the conditional create found the existing patient');
      assert.equal(res.body.entry[1].resource.link[0].other.reference, `Patient/${existing.id}`);
      await app.request.get(`/fhir/Patient/${doomed.id}`).auth(token, { type: 'bearer' }).expect(410);
    });

    it('a conditional reference that matches nothing fails the whole transaction', async () => {
      const before = await patientCount();
      const res = await send(bundle('transaction', [
        postEntry(dentalPatient()),
        postEntry(dentalPatient({ link: [{ other: { reference: 'Patient?identifier=urn:none|nobody' }, type: 'seealso' }] })),
      ])).expect(422);
      assert.match(res.body.issue[0].diagnostics, /matches nothing/);
      assert.equal(await patientCount(), before);
    });

    it('an entry the scopes do not allow fails the whole transaction (403)', async () => {
      const reader = await tenantWithToken(app, ['system/Patient.read']);
      await send(bundle('transaction', [postEntry(dentalPatient())]), reader.token).expect(403);
    });

    it('malformed bundles are 400', async () => {
      await send({ resourceType: 'Bundle', type: 'collection', entry: [] }).expect(400);
      await send({ resourceType: 'Patient' }).expect(400);
      await send(bundle('transaction', [{ resource: dentalPatient(), request: { url: 'Patient' } }])).expect(400);
      await send(bundle('transaction', [{ resource: dentalPatient(), request: { method: 'POST', url: '/not a url' } }])).expect(400);
    });
  });

  describe('batch', () => {
    it('runs each entry on its own and reports each outcome', async () => {
      const before = await patientCount();
      const res = await send(bundle('batch', [
        postEntry(dentalPatient()),
        postEntry({ ...dentalPatient(), gender: 'unknown-value' }),
        { request: { method: 'GET', url: `Patient/${randomUUID()}` } },
        { request: { method: 'GET', url: 'Patient?family=Okafor&_count=1' } },
      ])).expect(200);
      assert.equal(res.body.type, 'batch-response');
      const statuses = res.body.entry.map((e: { response: { status: string } }) => e.response.status);
      assert.deepEqual(statuses, ['201 Created', '400', '404', '200 OK']);
      assert.equal(res.body.entry[1].response.outcome.resourceType, 'OperationOutcome');
      assert.equal(res.body.entry[3].resource.type, 'searchset');
      assert.equal(await patientCount(), before + 1);
    });
  });

  it('each entry is audited as its own interaction', async () => {
    const res = await send(bundle('transaction', [postEntry(dentalPatient())])).expect(200);
    const id = res.body.entry[0].resource.id;
    const events = await app.services.db.tenant(tenantId, (trx) => trx('audit_events').where({ resource_id: id }));
    assert.deepEqual(events.map((e) => [e.event_type, e.resource_type]), [['FHIR_CREATE', 'Patient']]);
  });
});
