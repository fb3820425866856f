// The knex PostgreSQL client with two changes: a transaction that carries a role and a tenant
// starts with BEGIN and both settings in a single simple query, so that scoping a transaction
// costs no round trip of its own (the values are validated before they are spliced in); and named
// statements (src/db/prepared.ts) run unnamed where connections share one session (the embedded
// database), whose statement names would collide.
import { createRequire } from 'node:module';
import type { Knex } from 'knex';

const require = createRequire(import.meta.url);
// knex exposes its dialect classes only through these paths.
const ClientPG = require('knex/lib/dialects/postgres/index.js') as new (config: Knex.Config) => Knex.Client & {
  _query(connection: unknown, query: KnexQuery): Promise<unknown>;
};

interface KnexQuery {
  sql: string;
  options?: { name?: string };
}

/** The knex config key that says whether statements may be named. */
export const NAMED_STATEMENTS_KEY = 'cuspNamedStatements';
const TransactionPG = require('knex/lib/dialects/postgres/execution/pg-transaction.js') as new (...args: unknown[]) => {
  begin(connection: unknown): Promise<unknown>;
  query(connection: unknown, sql: string): Promise<unknown>;
};

export interface TransactionScope {
  role: string;
  /** A UUID, or '' for none. */
  tenantId: string;
  /** False: COMMIT returns before its WAL is flushed (synchronous_commit off), for writes that a crash may lose. */
  durable?: boolean;
  /**
   * True: named statements run a generic plan, made at their first run on a connection
   * (plan_cache_mode force_generic_plan), for statements whose parameters are lists of a batch.
   * PostgreSQL may otherwise plan such a statement at every run — a generic plan over lists of any
   * length can estimate dearer than the custom plan for the list given (the ingest's statements
   * do) — and planning them costs more than running them.
   */
  genericPlans?: boolean;
}

const ROLE = /^[a-z_]+$/;
const TENANT = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})?$/i;

/** The settings that scope a transaction, validated (beginStatement splices them into SQL). */
function scopeSettings({ role, tenantId, durable = true, genericPlans = false }: TransactionScope): [string, string][] {
  if (!ROLE.test(role) || !TENANT.test(tenantId)) throw new Error('invalid transaction scope');
  return [
    ['role', role], ['cusp.tenant_id', tenantId],
    ...(durable ? [] : [['synchronous_commit', 'off'] as [string, string]]),
    ...(genericPlans ? [['plan_cache_mode', 'force_generic_plan'] as [string, string]] : []),
  ];
}

export function beginStatement(scope: TransactionScope): string {
  return `BEGIN; SELECT ${scopeSettings(scope).map(([name, value]) => `set_config('${name}', '${value}', true)`).join(', ')};`;
}

/** The same settings as one statement, first in a pipeline (src/db/pipeline.ts), which is its transaction. */
export function scopeStatement(scope: TransactionScope): { text: string; values: string[] } {
  const settings = scopeSettings(scope);
  return {
    text: `select ${settings.map(([name], index) => `set_config('${name}', $${index + 1}, true)`).join(', ')}`,
    values: settings.map(([, value]) => value),
  };
}

/** The transaction config key that carries the scope (knex replaces `userParams` with its own). */
export const SCOPE_KEY = 'cuspScope';

class ScopedTransaction extends TransactionPG {
  private readonly scope?: TransactionScope;

  constructor(client: unknown, container: unknown, config?: Record<string, unknown>, outerTx?: unknown) {
    super(client, container, config, outerTx);
    this.scope = config?.[SCOPE_KEY] as TransactionScope | undefined;
  }

  override begin(connection: unknown): Promise<unknown> {
    return this.scope ? this.query(connection, beginStatement(this.scope)) : super.begin(connection);
  }
}

/** Whether `client`'s connections may hold named statements (not where they share one session). */
export function namesStatements(client: Knex.Client): boolean {
  return (client.config as Record<string, unknown>)[NAMED_STATEMENTS_KEY] !== false;
}

export class ScopedClientPG extends ClientPG {
  override _query(connection: unknown, query: KnexQuery): Promise<unknown> {
    if (namesStatements(this) || query.options?.name === undefined) return super._query(connection, query);
    const { name: _unnamed, ...options } = query.options;
    return super._query(connection, { ...query, options });
  }

  override transaction(container: unknown, config?: Record<string, unknown>, outerTx?: unknown) {
    return new ScopedTransaction(this, container, config, outerTx) as unknown as Knex.Transaction;
  }
}
