import assert from 'node:assert/strict';
import { ownerClient } from './support/database.ts';

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
