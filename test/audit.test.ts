import assert from 'node:assert/strict';
import { ownerClient } from './support/database.ts';
import { createTenant, startTestApp, tenantWithToken, type TestApp } from './support/app.ts';

describe('audit trail', () => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp();
  });
  after(() => app.close());

  const eventsOf = (tenantId: string) => app.services.db.tenant(tenantId, (trx) => trx('audit_events').orderBy('timestamp'));

  it('a token grant is audited with client, tenant, request id, address and user agent', async () => {
    const { tenantId, client } = await tenantWithToken(app, ['system/*.read']);
    const grants = (await eventsOf(tenantId)).filter((e) => e.event_type === 'LOGIN_SUCCESS');
    assert.equal(grants.length, 1);
    const [grant] = grants;
    assert.equal(grant.actor_type, 'API_CLIENT');
    assert.equal(grant.actor_id, client.id);
    assert.equal(grant.outcome, 'SUCCESS');
    assert.ok(grant.request_id);
    assert.match(grant.ip_address, /127\.0\.0\.1/);
    assert.equal(grant.metadata.client_id, client.client_id);
  });

  it('a failed token request is audited against the client it named', async () => {
    const { tenantId, client } = await tenantWithToken(app, ['system/*.read']);
    await app.request.post('/auth/token').auth(client.client_id, 'wrong').set('User-Agent', 'audit-test/1.0').type('form')
      .send({ grant_type: 'client_credentials' }).expect(401);
    const failures = (await eventsOf(tenantId)).filter((e) => e.event_type === 'LOGIN_FAILED');
    assert.equal(failures.length, 1);
    assert.equal(failures[0].outcome, 'FAILURE');
    assert.equal(failures[0].user_agent, 'audit-test/1.0');
    assert.equal(failures[0].metadata.error, 'invalid_client');
  });

  it('an administrative change is audited in the same transaction', async () => {
    const admin = await tenantWithToken(app, ['admin']);
    const res = await app.request.post('/admin/dicom-nodes').auth(admin.token, { type: 'bearer' })
      .send({ tenant_id: admin.tenantId, ae_title: 'PANO_1', host: '127.0.0.1', port: 11112 }).expect(201);
    const changes = (await eventsOf(admin.tenantId)).filter((e) => e.event_type === 'CONFIG_CHANGED');
    assert.equal(changes.length, 1);
    assert.equal(changes[0].resource_type, 'DICOM_NODE');
    assert.equal(changes[0].resource_id, res.body.id);
  });

  it('an event recorded in a write transaction rolls back with it', async () => {
    const tenantId = await createTenant(app.services);
    await assert.rejects(app.services.db.tenant(tenantId, async (trx) => {
      await app.services.audit.recordInTransaction(trx, { tenantId, actorType: 'SYSTEM', eventType: 'PATIENT_UPDATED', outcome: 'SUCCESS' });
      throw new Error('the write failed');
    }), /the write failed/);
    assert.deepEqual((await eventsOf(tenantId)).filter((e) => e.event_type === 'PATIENT_UPDATED'), []);
  });

  it('group commit: concurrent events share transactions and each is durable when its promise resolves', async () => {
    const tenantId = await createTenant(app.services);
    const before = app.services.audit.batchCount;
    await Promise.all(Array.from({ length: 200 }, (_, i) => app.services.audit.record({
      tenantId, actorType: 'SYSTEM', eventType: 'PATIENT_VIEWED', resourceType: 'Patient', resourceId: String(i), outcome: 'SUCCESS',
    })));
    const batches = app.services.audit.batchCount - before;
    assert.ok(batches >= 1 && batches <= 5, `200 events took ${batches} transactions`);
    const rows = (await eventsOf(tenantId)).filter((e) => e.event_type === 'PATIENT_VIEWED');
    assert.equal(rows.length, 200);
  });

  describe('append-only', () => {
    for (const statement of ['update audit_events set event_type = \'X\'', 'delete from audit_events', 'truncate audit_events']) {
      it(`refuses "${statement.split(' ')[0]}" even from the table owner`, async () => {
        const client = await ownerClient();
        try {
          await assert.rejects(client.query(statement), /append-only/);
        } finally {
          await client.end();
        }
      });
    }

    it('the application roles hold no UPDATE or DELETE privilege on it', async () => {
      const client = await ownerClient();
      try {
        const { rows } = await client.query(`select privilege_type from information_schema.role_table_grants
          where table_name = 'audit_events' and grantee in ('cusp_app', 'cusp_platform') and privilege_type in ('UPDATE', 'DELETE', 'TRUNCATE')`);
        assert.deepEqual(rows, []);
      } finally {
        await client.end();
      }
    });
  });
});
