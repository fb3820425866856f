import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Knex } from 'knex';
import pg from 'pg';
import { loadConfig } from '../src/config/index.ts';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../src/db/embedded.ts';
import { prepared } from '../src/db/prepared.ts';
import { openDatabase, type Database } from '../src/db/index.ts';
import { runPipelined } from '../src/db/pipeline.ts';
import { embedded, ownerClient, ownerQuery, testDatabaseUrl } from './support/database.ts';

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
  /** A database of one pooled connection, so that each transaction runs where the last one ran. */
  async function withOneConnection(use: (db: Database) => Promise<void>): Promise<void> {
    const db = await openDatabase({ ...loadConfig({}), databaseUrl: testDatabaseUrl(), databasePoolSize: 1 }, { migrate: false });
    try {
      await use(db);
    } finally {
      await db.close();
    }
  }

  it('tenant() runs as cusp_app with the tenant set, platform() as cusp_platform with none, and both end with the transaction', async () => {
    await withOneConnection(async (db) => {
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
      if (embedded) {
        assert.deepEqual(named, [], 'PGlite serves every connection in one session: statements run unnamed, so names cannot collide');
      } else {
        assert.equal(named.length, 1, 'a prepared query is one named statement on its connection, whatever its values');
        assert.match(named[0].statement, /select \$1::int \+ 1 as next/);
      }
    });
  });

  it('tenant() with genericPlans runs named statements on a generic plan, in that transaction only', async () => {
    await withOneConnection(async (db) => {
      const tenantId = '3f0c9a52-6c1e-4a8e-9a0e-5a4c1c2b7d10';
      const shape = 'test generic plan';
      const plans = (genericPlans?: boolean) => db.tenant(tenantId, async (trx) => {
        for (let run = 0; run < 8; run++) await prepared(trx.raw('select count(*) from tenants where id = any(?::uuid[])', [[tenantId]]), shape);
        const mode = (await trx.raw("select current_setting('plan_cache_mode') as mode")).rows[0].mode;
        const [counts] = (await trx.raw('select generic_plans, custom_plans from pg_prepared_statements where statement like ?', ['%tenants where id = any%'])).rows;
        return { mode, counts };
      }, { genericPlans });
      const generic = await plans(true);
      assert.equal(generic.mode, 'force_generic_plan');
      const after = await plans();
      assert.equal(after.mode, 'auto', 'the setting ends with its transaction');
      if (!embedded) {
        assert.deepEqual(generic.counts, { generic_plans: 8, custom_plans: 0 }, 'planned once, at the first run');
        assert.ok(after.counts.custom_plans >= 5, `without it, custom plans first (${JSON.stringify(after.counts)})`);
      }
    });
  });

  it('reader() runs each read in a tenant transaction of its own, on a connection it gives back, also after a failure', async () => {
    await withOneConnection(async (db) => {
      const tenantId = '5d2f1c0e-8a7b-4c3d-9e2f-1a0b9c8d7e6f';
      const read = db.reader(tenantId);
      const scope = (q: Knex) => q.select(q.raw('current_user as role'), q.raw('cusp_tenant_id() as tenant'), q.raw('txid_current() as txid'));
      const [first] = await read<{ role: string; tenant: string; txid: number }>(scope, 'test reader scope');
      assert.deepEqual([first!.role, first!.tenant], ['cusp_app', tenantId]);
      await assert.rejects(read((q) => q.select(q.raw('1 / 0 as never')), 'test reader failure'), /division by zero/);
      const [second] = await read<{ role: string; tenant: string; txid: number }>(scope, 'test reader scope');
      assert.notEqual(second!.txid, first!.txid, 'a transaction per read');
      const after = await db.platform((trx) => trx.raw('select current_user as role, cusp_tenant_id() as tenant'));
      assert.deepEqual(after.rows, [{ role: 'cusp_platform', tenant: null }], 'the one pooled connection came back, its settings gone with the transaction');
      assert.throws(() => db.reader('not a tenant'), /invalid tenant id/);
    });
  });

  it('tenantStatements runs its statements in one tenant transaction, answering the rows of each; a failure leaves nothing', async () => {
    const eventType = `TEST_TENANT_STATEMENTS_${Date.now()}`;
    const tenantId = (await ownerQuery("insert into tenants (name) values ('tenant statements test') returning id"))[0]!.id as string;
    await withOneConnection(async (db) => {
      const scope = { query: (q: Knex) => q.raw("select current_user as role, cusp_tenant_id() as tenant, txid_current() as txid, current_setting('synchronous_commit') as commit"), shape: 'test tenant statements scope' };
      const [first, second] = await db.tenantStatements(tenantId, [scope, scope], { durable: false });
      assert.deepEqual(first, second, 'one transaction');
      assert.deepEqual([first![0]!.role, first![0]!.tenant, first![0]!.commit], ['cusp_app', tenantId, 'off']);
      const insert = { query: (q: Knex) => q.raw('insert into audit_events (tenant_id, actor_type, event_type, outcome) values (?, ?, ?, ?)', [tenantId, 'SYSTEM', eventType, 'SUCCESS']), shape: 'test tenant statements insert' };
      await assert.rejects(db.tenantStatements(tenantId, [insert, { query: (q) => q.raw('select 1 / 0'), shape: 'test tenant statements failure' }]), /division by zero/);
      const stored = await db.platform((trx) => trx('audit_events').where({ event_type: eventType }).select('id'));
      assert.deepEqual(stored, [], 'the insert before the failure is rolled back');
      await assert.rejects(db.tenantStatements('not a tenant', [scope]), /invalid tenant id/);
    });
  });

  it('platformStatements runs each statement as the platform, committed on its own, and a failed one leaves nothing', async () => {
    const eventType = `TEST_PLATFORM_STATEMENT_${Date.now()}`;
    await withOneConnection(async (db) => {
      const [scope] = await db.platformStatements<{ role: string; tenant: string | null }>(
        (q) => q.raw('select current_user as role, cusp_tenant_id() as tenant'), 'test platform scope');
      assert.deepEqual(scope, { role: 'cusp_platform', tenant: null });
      const insert = (actorType: string) => (q: Knex) => q.raw('insert into audit_events (actor_type, event_type, outcome) values (?, ?, ?) returning id', [actorType, eventType, 'SUCCESS']);
      const [inserted] = await db.platformStatements<{ id: string }>(insert('SYSTEM'), 'test platform insert');
      await assert.rejects(db.platformStatements(insert('NOT AN ACTOR TYPE'), 'test platform insert'), /check constraint|invalid input/);
      const stored = await db.platform((trx) => trx('audit_events').where({ event_type: eventType }).select('id'));
      assert.deepEqual(stored, [{ id: inserted!.id }], 'the first insert committed, the refused one left no row');
      const after = await db.tenant('5d2f1c0e-8a7b-4c3d-9e2f-1a0b9c8d7e6f', (trx) => trx.raw('select current_user as role'));
      assert.deepEqual(after.rows, [{ role: 'cusp_app' }], 'the one pooled connection came back after the failure');
    });
  });
});

describe('pipelined statements', () => {
  async function withClient(use: (client: pg.Client) => Promise<void>): Promise<void> {
    const client = await ownerClient();
    try {
      // PGlite serves all connections in one session, where the table outlives the connection.
      await client.query('create temporary table if not exists pipeline_rows (value text not null)');
      await client.query('truncate pipeline_rows');
      await use(client);
    } finally {
      await client.end();
    }
  }
  const rowsOf = async (client: pg.Client) => (await client.query('select value from pipeline_rows order by value')).rows.map((row) => row.value);

  it('run in one transaction, committed at the end and answered one result per statement', async () => {
    await withClient(async (client) => {
      const results = await runPipelined(client, [
        { text: 'insert into pipeline_rows values ($1) returning value', values: ['a'] },
        { text: 'select txid_current() as txid', values: [] },
        { text: 'select txid_current() as txid', values: [] },
      ]);
      assert.deepEqual(results.map((result) => result.command), ['INSERT', 'SELECT', 'SELECT']);
      assert.deepEqual(results[0]!.rows, [{ value: 'a' }]);
      assert.equal(results[1]!.rows[0].txid, results[2]!.rows[0].txid, 'one transaction');
      assert.deepEqual(await rowsOf(client), ['a']);
    });
  });

  it('a failing statement rolls back those before it and skips those after it', async () => {
    await withClient(async (client) => {
      await assert.rejects(runPipelined(client, [
        { text: 'insert into pipeline_rows values ($1)', values: ['before'] },
        { text: 'select 1 / $1::int', values: [0] },
        { text: 'insert into pipeline_rows values ($1)', values: ['after'] },
      ]), /division by zero/);
      assert.deepEqual(await rowsOf(client), []);
      const failing = { toPostgres() { throw new Error('no value'); } };
      await assert.rejects(runPipelined(client, [
        { text: 'insert into pipeline_rows values ($1)', values: ['first'] },
        { text: 'insert into pipeline_rows values ($1)', values: [failing] },
      ]), /no value/);
      assert.deepEqual(await rowsOf(client), [], 'a value that cannot be sent sends nothing');
    });
  });

  it('prepares a named statement once per connection, and again after its Parse failed or was skipped', async function () {
    if (embedded) this.skip(); // one session for every connection: the application names no statements there
    await withClient(async (client) => {
      const good = { text: 'select $1::int + 1 as next', values: [1], name: 'cusp_test_pipeline_next' };
      const bad = { text: 'selec 1', values: [], name: 'cusp_test_pipeline_bad' };
      await assert.rejects(runPipelined(client, [bad, good]), /syntax error/);
      await assert.rejects(runPipelined(client, [bad]), /syntax error/, 'parsed again, not taken as prepared');
      for (const value of [1, 2]) {
        const [result] = await runPipelined(client, [{ ...good, values: [value] }]);
        assert.deepEqual(result!.rows, [{ next: value + 1 }], 'prepared at its first run, skipped before');
      }
      const { rows } = await client.query("select name from pg_prepared_statements where name like 'cusp\\_test\\_pipeline%'");
      assert.deepEqual(rows, [{ name: 'cusp_test_pipeline_next' }]);
      await assert.rejects(runPipelined(client, [{ ...good, text: 'select 2' }]), /was used for a different statement/);
    });
  });
});

describe('the embedded database\'s autovacuum', function () {
  this.timeout(60_000);
  let directory: string;
  let server: EmbeddedPostgres;
  let client: pg.Client;

  before(async () => {
    directory = await fs.mkdtemp(path.join(os.tmpdir(), 'cusp-autovacuum-'));
    server = await startEmbeddedPostgres(directory, 4);
    client = new pg.Client(server.url);
    await client.connect();
  });
  after(async () => {
    await client.end();
    await server.stop();
    await fs.rm(directory, { recursive: true, force: true });
  });

  /** The backend reports its table counts to the cumulative statistics now rather than when it next idles a while. */
  const reportCounts = async () => {
    await client.query('select pg_stat_force_next_flush()');
    await client.query('select 1');
  };
  const statistics = async (table: string) => (await client.query(`select c.reltuples, s.last_vacuum is not null as vacuumed,
      s.last_analyze is not null as analysed, exists (select 1 from pg_stats where tablename = c.relname) as has_column_statistics
    from pg_class c join pg_stat_user_tables s on s.relid = c.oid where c.relname = $1`, [table])).rows[0];
  const untouched = { reltuples: -1, vacuumed: false, analysed: false, has_column_statistics: false };

  it('vacuums and analyses the tables that autovacuum\'s own thresholds pick, and leaves the others', async () => {
    await client.query('create table churned (id integer primary key, note text)');
    await client.query("insert into churned select n, 'note ' || n from generate_series(1, 1000) n");
    await client.query('delete from churned where id > 400');
    await client.query('create table quiet (id integer)');
    await client.query('insert into quiet select generate_series(1, 10)');
    await reportCounts();
    assert.deepEqual(await statistics('churned'), untouched, 'PGlite analyses nothing by itself');

    assert.deepEqual(await server.autovacuum.runOnce(), ['vacuum analyze public.churned']);
    assert.deepEqual(await statistics('churned'), { reltuples: 400, vacuumed: true, analysed: true, has_column_statistics: true });
    assert.deepEqual(await statistics('quiet'), untouched);
    assert.deepEqual(await server.autovacuum.runOnce(), [], 'nothing is due again until the table changes');
    await client.query('insert into quiet select generate_series(11, 100)');
    await reportCounts();
    assert.deepEqual(await server.autovacuum.runOnce(), ['analyze public.quiet']);
  });
});
