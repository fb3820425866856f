import assert from 'node:assert/strict';
import { startTestApp, tenantWithToken, type TestApp } from './support/app.ts';

describe('admin API', () => {
  let app: TestApp;
  let token: string;
  before(async () => {
    app = await startTestApp();
    ({ token } = await tenantWithToken(app, ['admin']));
  });
  after(() => app.close());

  const post = (path: string, body: object) => app.request.post(path).auth(token, { type: 'bearer' }).send(body);
  const get = (path: string) => app.request.get(path).auth(token, { type: 'bearer' });

  describe('tenants', () => {
    it('POST /admin/tenants creates a tenant (201) that GET lists', async () => {
      const res = await post('/admin/tenants', { name: 'Northside Dental Group', type: 'DSO', primary_region: 'eu-west' }).expect(201);
      assert.equal(res.body.name, 'Northside Dental Group');
      assert.equal(res.body.type, 'DSO');
      assert.equal(res.body.status, 'ACTIVE');
      const child = await post('/admin/tenants', { name: 'Northside – Riverside clinic', type: 'SOLO_PRACTICE', parent_tenant_id: res.body.id }).expect(201);
      assert.equal(child.body.parent_tenant_id, res.body.id);
      const list = await get('/admin/tenants').expect(200);
      assert.ok(list.body.some((t: { id: string }) => t.id === child.body.id));
    });

    it('refuses a missing name, an unknown type or parent, and writes nothing', async () => {
      const before = (await get('/admin/tenants')).body.length;
      for (const body of [{ type: 'DSO' }, { name: 'X', type: 'HOSPITAL' }, { name: 'X', parent_tenant_id: '00000000-0000-4000-8000-000000000000' }]) {
        const res = await post('/admin/tenants', body).expect(400);
        assert.equal(res.body.resourceType, 'OperationOutcome');
      }
      await app.request.post('/admin/tenants').auth(token, { type: 'bearer' }).type('json').send('{"name": ').expect(400);
      assert.equal((await get('/admin/tenants')).body.length, before);
    });
  });

  describe('clients', () => {
    it('POST /admin/clients answers 201 with the secret once; listings never show it', async () => {
      const tenant = (await post('/admin/tenants', { name: 'Payer Co', type: 'PAYER' }).expect(201)).body;
      const res = await post('/admin/clients', {
        tenant_id: tenant.id, name: 'Claims export', scopes: ['system/Claim.read', 'system/Coverage.rs'],
        rate_limit_per_minute: 600, ip_allowlist: ['198.51.100.0/24'],
      }).expect(201);
      assert.match(res.body.client_id, /^[0-9a-f]{32}$/);
      assert.equal(typeof res.body.client_secret, 'string');
      assert.ok(res.body.client_secret.length >= 40);
      assert.equal(res.body.client_secret_hash, undefined);
      assert.deepEqual(res.body.scopes, ['system/Claim.read', 'system/Coverage.rs']);

      const listed = await get(`/admin/clients?tenant_id=${tenant.id}`).expect(200);
      assert.equal(listed.body.length, 1);
      assert.equal(listed.body[0].client_id, res.body.client_id);
      assert.doesNotMatch(JSON.stringify(listed.body), new RegExp(res.body.client_secret));
      assert.equal(listed.body[0].client_secret_hash, undefined);
    });

    it('the stored secret is a scrypt hash, not the secret', async () => {
      const tenant = (await post('/admin/tenants', { name: 'Hash check' }).expect(201)).body;
      const res = await post('/admin/clients', { tenant_id: tenant.id, name: 'x', scopes: ['system/*.read'] }).expect(201);
      const row = await app.services.db.platform((trx) => trx('api_clients').where({ client_id: res.body.client_id }).first());
      assert.match(row.client_secret_hash, /^scrypt\$/);
      assert.ok(!row.client_secret_hash.includes(res.body.client_secret));
    });

    it('refuses unknown scopes, a missing tenant and malformed keys', async () => {
      const tenant = (await post('/admin/tenants', { name: 'Validation' }).expect(201)).body;
      assert.deepEqual((await post('/admin/clients', { tenant_id: tenant.id, name: 'x', scopes: ['patient.read'] }).expect(400)).body.issue[0].expression, ['scopes']);
      await post('/admin/clients', { tenant_id: '00000000-0000-4000-8000-000000000000', name: 'x', scopes: ['system/*.read'] }).expect(404);
      await post('/admin/clients', { tenant_id: tenant.id, name: 'x', scopes: ['system/*.read'], jwks: { key: 1 } }).expect(400);
      await post('/admin/clients', { tenant_id: tenant.id, name: 'x', scopes: ['system/*.read'], jwks_uri: 'file:///etc/passwd' }).expect(400);
      await post('/admin/clients', { tenant_id: tenant.id, name: 'x', scopes: ['system/*.read'], rate_limit_per_minute: 0 }).expect(400);
      assert.deepEqual((await get(`/admin/clients?tenant_id=${tenant.id}`)).body, []);
    });

    it('DELETE /admin/clients/{client_id} disables the client; an unknown one is 404', async () => {
      const tenant = (await post('/admin/tenants', { name: 'Disable me' }).expect(201)).body;
      const created = (await post('/admin/clients', { tenant_id: tenant.id, name: 'x', scopes: ['system/*.read'] }).expect(201)).body;
      const res = await app.request.delete(`/admin/clients/${created.client_id}`).auth(token, { type: 'bearer' }).expect(200);
      assert.equal(res.body.status, 'DISABLED');
      await app.request.delete('/admin/clients/no-such-client').auth(token, { type: 'bearer' }).expect(404);
    });
  });

  describe('DICOM nodes', () => {
    it('POST /admin/dicom-nodes registers an AE title for a tenant (201), once per tenant', async () => {
      const tenant = (await post('/admin/tenants', { name: 'Imaging clinic' }).expect(201)).body;
      const res = await post('/admin/dicom-nodes', { tenant_id: tenant.id, ae_title: 'CBCT_ROOM2', host: '192.0.2.10', port: 104 }).expect(201);
      assert.equal(res.body.ae_title, 'CBCT_ROOM2');
      assert.equal(res.body.tenant_id, tenant.id);
      await post('/admin/dicom-nodes', { tenant_id: tenant.id, ae_title: 'CBCT_ROOM2' }).expect(400);
    });

    it('refuses AE titles that PS3.5 does not allow', async () => {
      const tenant = (await post('/admin/tenants', { name: 'AE check' }).expect(201)).body;
      for (const ae_title of ['', '                ', 'A'.repeat(17), 'BAD\\AE']) {
        await post('/admin/dicom-nodes', { tenant_id: tenant.id, ae_title }).expect(400);
      }
      await post('/admin/dicom-nodes', { tenant_id: tenant.id, ae_title: 'OK', port: 70000 }).expect(400);
    });
  });
});
