import assert from 'node:assert/strict';
import { loadConfig } from '../src/config/index.ts';
import { prepared } from '../src/db/prepared.ts';
import { openDatabase } from '../src/db/index.ts';
import { ownerClient, testDatabaseUrl } from './support/database.ts';

describe('database roles', () => {
  it('the application roles are neither superusers nor able to bypass row-level security', async () => {
    const client = await ownerClient();
    try {
      const { rows } = await client.query(
        `select rolname, rolsuper, rolbypassrls from pg_roles where rolname in ('cusp_app', 'cusp_platform') order by rolname`);
      assert.deepEqual(rows, [
        { rolname: 'cusp_app', rolsuper: false, rolbypassrls: false },
        { rolname: 'cusp_platform', rolsuper: false, rolbypassrls: false },
      ]);
    } finally {
      await client.end();
    }
  });
});

describe('scoped transactions', () => {
  it('tenant() runs as cusp_app with the tenant set, platform() as cusp_platform with none, and both end with the transaction', async () => {
    const db = await openDatabase({ ...loadConfig({}), databaseUrl: testDatabaseUrl(), databasePoolSize: 1 }, { migrate: false });
    try {
      const tenantId = '3f0c9a52-6c1e-4a8e-9a0e-5a4c1c2b7d10';
      const inTenant = await db.tenant(tenantId, (trx) => trx.raw('select current_user as role, cusp_tenant_id() as tenant'));
      assert.deepEqual(inTenant.rows, [{ role: 'cusp_app', tenant: tenantId }]);
      const inPlatform = await db.platform((trx) => trx.raw('select current_user as role, cusp_tenant_id() as tenant'));
      assert.deepEqual(inPlatform.rows, [{ role: 'cusp_platform', tenant: null }]);
      await assert.rejects(db.tenant("x'; drop table tenants; --", (trx) => trx.raw('select 1')), /invalid tenant id/);

      const commitSetting = (options?: { durable?: boolean }) =>
        db.tenant(tenantId, async (trx) => (await trx.raw('show synchronous_commit')).rows[0].synchronous_commit, options);
      assert.equal(await commitSetting({ durable: false }), 'off', 'a non-durable transaction commits without waiting for the flush');
      assert.equal(await commitSetting(), 'on', 'the setting ends with its transaction; the default is durable');

      const named = await db.tenant(tenantId, async (trx) => {
        for (const value of [1, 2]) assert.deepEqual((await prepared(trx.raw('select ?::int + 1 as next', [value]), 'test next')).rows, [{ next: value + 1 }]);
        return (await trx.raw("select name, statement from pg_prepared_statements where name like 'cusp\\_%'")).rows;
      });
      assert.equal(named.length, 1, 'a prepared query is one named statement on its connection, whatever its values');
      assert.match(named[0].statement, /select \$1::int \+ 1 as next/);
    } finally {
      await db.close();
    }
  });
});
