import assert from 'node:assert/strict';
import { startTestApp, tenantWithToken, type TestApp } from './support/app.ts';

// Two tenants, A and B: nothing of A can be read, written, counted or guessed from B.
describe('tenant isolation', () => {
  let app: TestApp;
  let a: Awaited<ReturnType<typeof tenantWithToken>>;
  let b: Awaited<ReturnType<typeof tenantWithToken>>;
  let patientOfA: string;

  before(async () => {
    app = await startTestApp();
    a = await tenantWithToken(app, ['system/*.*']);
    b = await tenantWithToken(app, ['system/*.*']);
    patientOfA = await app.services.db.tenant(a.tenantId, async (trx) => {
      const [patient] = await trx('patients').insert({ tenant_id: a.tenantId, first_name: 'Ada', last_name: 'Molar', dob: '1980-04-02' }).returning('id');
      await trx('patient_identifiers').insert({ tenant_id: a.tenantId, patient_id: patient.id, system: 'MRN', value: 'MRN-0001', is_primary: true });
      await trx('dicom_nodes').insert({ tenant_id: a.tenantId, ae_title: 'PANO_A' });
      return patient.id as string;
    });
  });
  after(() => app.close());

  const asB = <T>(work: Parameters<typeof app.services.db.tenant<T>>[1]) => app.services.db.tenant(b.tenantId, work);

  describe('through the HTTP endpoints', () => {
    it('the token a client gets is bound to its own tenant', async () => {
      const claims = JSON.parse(Buffer.from(b.token.split('.')[1]!, 'base64url').toString());
      assert.equal(claims.tenant, b.tenantId);
    });

    it("B's client cannot list tenants or clients, nor disable A's client, without the admin scope", async () => {
      await app.request.get('/admin/tenants').auth(b.token, { type: 'bearer' }).expect(403);
      await app.request.get(`/admin/clients?tenant_id=${a.tenantId}`).auth(b.token, { type: 'bearer' }).expect(403);
      await app.request.delete(`/admin/clients/${a.client.client_id}`).auth(b.token, { type: 'bearer' }).expect(403);
      const policy = await app.services.clients.policy(a.client.id);
      assert.equal(policy?.client.status, 'ACTIVE');
    });

    it("B's client secret does not authenticate as A's client", async () => {
      await app.request.post('/auth/token').auth(a.client.client_id, b.secret).type('form').send({ grant_type: 'client_credentials' }).expect(401);
    });
  });

  describe('in the database, with row-level security alone', () => {
    it("a query that forgets the tenant filter sees only the current tenant's rows", async () => {
      const patients = await asB((trx) => trx('patients').select('id'));
      assert.deepEqual(patients, []);
      const clients = await asB((trx) => trx('api_clients').select('tenant_id'));
      assert.ok(clients.length > 0 && clients.every((c) => c.tenant_id === b.tenantId));
      const tenants = await asB((trx) => trx('tenants').select('id'));
      assert.deepEqual(tenants.map((t) => t.id), [b.tenantId]);
    });

    it("counts and lookups by id find nothing of A's", async () => {
      const counted = await asB((trx) => trx('patients').count({ count: '*' }));
      assert.equal(Number(counted[0]?.count), 0);
      assert.equal(await asB((trx) => trx('patients').where({ id: patientOfA }).first()), undefined);
      assert.equal(await asB((trx) => trx('patient_identifiers').where({ value: 'MRN-0001' }).first()), undefined);
      assert.deepEqual(await asB((trx) => trx('audit_events').where({ tenant_id: a.tenantId })), []);
    });

    it("updates and deletes of A's rows affect nothing", async () => {
      assert.equal(await asB((trx) => trx('patients').where({ id: patientOfA }).update({ last_name: 'Hacked' })), 0);
      assert.equal(await asB((trx) => trx('patients').where({ id: patientOfA }).delete()), 0);
      const still = await app.services.db.tenant(a.tenantId, (trx) => trx('patients').where({ id: patientOfA }).first());
      assert.equal(still.last_name, 'Molar');
    });

    it("B cannot insert rows into A's tenant", async () => {
      await assert.rejects(asB((trx) => trx('patients').insert({ tenant_id: a.tenantId, first_name: 'Eve', last_name: 'Intruder' })),
        /row-level security/);
    });

    it("B cannot attach a row of its own to A's patient", async () => {
      await assert.rejects(asB((trx) => trx('patient_identifiers').insert({ tenant_id: b.tenantId, patient_id: patientOfA, system: 'MRN', value: 'X' })),
        /foreign key/);
    });

    it("unique keys include the tenant, so B learns nothing from A's values", async () => {
      await asB(async (trx) => {
        const [patient] = await trx('patients').insert({ tenant_id: b.tenantId, first_name: 'Bo', last_name: 'Cusp' }).returning('id');
        await trx('patient_identifiers').insert({ tenant_id: b.tenantId, patient_id: patient.id, system: 'MRN', value: 'MRN-0001' });
        await trx('dicom_nodes').insert({ tenant_id: b.tenantId, ae_title: 'PANO_A' });
      });
    });

    it('a transaction with no tenant set sees nothing', async () => {
      const rows = await app.services.db.tenant('00000000-0000-0000-0000-000000000000', (trx) => trx('patients').select('id'));
      assert.deepEqual(rows, []);
    });
  });
});
