// Database access. Application code never gets a bare connection: every query runs inside
// `tenant(...)` (role cusp_app, RLS keyed on cusp.tenant_id), `tenantStatements(...)` and a
// `reader(...)` of one tenant (the same scope; statements sent together with their scope, in one
// round trip, for hot paths) or `platform(...)` and `platformStatements` (role cusp_platform, for
// work that is not one tenant's: token grants, administration, audit batches). Both roles are
// non-owner, non-superuser roles, so row-level security applies.
import knexFactory, { type Knex } from 'knex';
import pg from 'pg';
import type { Config } from '../config/index.ts';
import type { Logger } from '../observability/logger.ts';
import { withConnection } from './connection.ts';
import { EMBEDDED_EXTRA_CONNECTIONS, startEmbeddedPostgres, type EmbeddedPostgres } from './embedded.ts';
import { migrationSource } from './migrations.ts';
import { scopedPipeline, scopedStatements, type Reader, type ShapedStatement, type StatementRunner } from './statements.ts';
import { NAMED_STATEMENTS_KEY, SCOPE_KEY, ScopedClientPG, type TransactionScope } from './scoped-client.ts';

export type Transaction = Knex.Transaction;

export const TENANT_ROLE = 'cusp_app';
export const PLATFORM_ROLE = 'cusp_platform';

// BIGINT counts and NUMERIC money arrive as strings by default; keep exact values as strings,
// but parse int8 (counts, sizes) since they never exceed 2^53 here.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));
// A calendar date is not an instant: keep 'YYYY-MM-DD' rather than a Date at local midnight.
pg.types.setTypeParser(pg.types.builtins.DATE, (value) => value);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (value: unknown): value is string => typeof value === 'string' && UUID.test(value);

export interface Database {
  readonly url: string;
  readonly embedded: boolean;
  /**
   * Runs `work` in one transaction scoped to `tenantId` by row-level security. `durable: false`
   * lets the commit return before it is flushed to disk: for writes that a crash may undo
   * without loss (a later durable commit flushes them too). `genericPlans`: see TransactionScope.
   */
  tenant<T>(tenantId: string, work: (trx: Transaction) => Promise<T>, options?: Pick<TransactionScope, 'durable' | 'genericPlans'>): Promise<T>;
  /**
   * Runs `statements` for `tenantId` in one transaction, sent together in one round trip (lighter
   * than tenant(), for statements that need not see each other's results in JavaScript).
   */
  tenantStatements(tenantId: string, statements: ShapedStatement[], options?: Pick<TransactionScope, 'durable' | 'genericPlans'>): Promise<Record<string, unknown>[][]>;
  /** Runs read queries for `tenantId`, each in a transaction of its own (lighter than tenant()). */
  reader(tenantId: string): Reader;
  /** Runs `work` in one transaction across tenants, for platform operations only. */
  platform<T>(work: (trx: Transaction) => Promise<T>): Promise<T>;
  /** Runs single platform statements, each in a transaction of its own (lighter than platform()). */
  readonly platformStatements: StatementRunner;
  close(): Promise<void>;
}

/** `namedStatements`: false where the pool's connections share one session (PGlite). */
function connect(url: string, poolSize: number, namedStatements = true): Knex {
  return knexFactory({
    client: ScopedClientPG as unknown as typeof knexFactory.Client,
    connection: url,
    pool: { min: 0, max: poolSize },
    migrations: { migrationSource, tableName: 'knex_migrations' },
    [NAMED_STATEMENTS_KEY]: namedStatements,
  } as Knex.Config);
}

async function scoped<T>(knex: Knex, scope: TransactionScope, work: (trx: Transaction) => Promise<T>): Promise<T> {
  return knex.transaction(work, { [SCOPE_KEY]: scope } as Knex.TransactionConfig);
}

export async function runMigrations(url: string): Promise<string[]> {
  const knex = connect(url, 1);
  try {
    const [, applied] = await knex.migrate.latest();
    return applied as string[];
  } finally {
    await knex.destroy();
  }
}

/** PGlite (the embedded database, whether this process started it or not) serves every connection in one session. */
function isPGlite(url: string): Promise<boolean> {
  return withConnection(url, async (client) => /PGlite/.test((await client.query('select version() as version')).rows[0].version));
}

/** Starts the embedded database when no DATABASE_URL is configured. */
export async function resolveDatabaseUrl(config: Config, logger?: Logger): Promise<{ url: string; embedded?: EmbeddedPostgres }> {
  if (config.databaseUrl) return { url: config.databaseUrl };
  const embedded = await startEmbeddedPostgres(config.dataDir, config.databasePoolSize + EMBEDDED_EXTRA_CONNECTIONS,
    logger && ((error) => logger.warn({ err: error }, 'embedded autovacuum round failed')));
  return { url: embedded.url, embedded };
}

export async function openDatabase(config: Config, options: { migrate?: boolean; logger?: Logger } = {}): Promise<Database> {
  const { url, embedded } = await resolveDatabaseUrl(config, options.logger);
  if (options.migrate !== false) await runMigrations(url);
  const namedStatements = !(embedded || await isPGlite(url));
  const knex = connect(url, config.databasePoolSize, namedStatements);
  return {
    url,
    embedded: Boolean(embedded),
    tenant(tenantId, work, options = {}) {
      if (!isUuid(tenantId)) return Promise.reject(new Error(`invalid tenant id "${tenantId}"`));
      return scoped(knex, { role: TENANT_ROLE, tenantId, ...options }, work);
    },
    tenantStatements(tenantId, statements, options = {}) {
      if (!isUuid(tenantId)) return Promise.reject(new Error(`invalid tenant id "${tenantId}"`));
      return scopedPipeline(knex, { role: TENANT_ROLE, tenantId, ...options })(statements);
    },
    reader(tenantId) {
      if (!isUuid(tenantId)) throw new Error(`invalid tenant id "${tenantId}"`);
      return scopedStatements(knex, { role: TENANT_ROLE, tenantId });
    },
    platformStatements: scopedStatements(knex, { role: PLATFORM_ROLE, tenantId: '' }),
    platform(work) {
      return scoped(knex, { role: PLATFORM_ROLE, tenantId: '' }, work);
    },
    async close() {
      await knex.destroy();
      await embedded?.stop();
    },
  };
}
