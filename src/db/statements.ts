// Statements that need no transaction of the caller's: a single one, or several that need not
// see each other's results, run in a scoped transaction of their own without a knex transaction,
// whose transactor object costs more CPU than the hot statements themselves (DICOMweb reads, audit
// batches, an ingest's writes). They are built with knex (on an instance that cannot run them) and
// sent on a pooled connection after the statement that sets their scope, all in one pipeline
// (src/db/pipeline.ts): one round trip, one transaction.
import knexFactory, { type Knex } from 'knex';
import type pg from 'pg';
import { prepared, statementName } from './prepared.ts';
import { runPipelined, type PipelinedStatement } from './pipeline.ts';
import { namesStatements, scopeStatement, type TransactionScope } from './scoped-client.ts';

/** Builds one statement with `q`, a knex instance or transaction. */
export type StatementQuery = (q: Knex) => Knex.QueryBuilder | Knex.Raw;
/** Runs a statement and answers its rows; `shape` names its statement (src/db/prepared.ts). */
export type StatementRunner = <Row>(query: StatementQuery, shape: string) => Promise<Row[]>;
/** A runner of SELECTs. */
export type Reader = StatementRunner;

const sqlOnly = knexFactory({ client: 'pg' });

/** Runs statements in the transaction `trx`. */
export function readerIn(trx: Knex.Transaction): StatementRunner {
  return async <Row>(query: StatementQuery, shape: string) => rowsOf<Row>(await prepared(query(trx), shape));
}

/** Runs `statement` in the transaction `trx`. */
export async function runIn<Row>(trx: Knex.Transaction, { query, shape }: ShapedStatement): Promise<Row[]> {
  return shape ? readerIn(trx)<Row>(query, shape) : rowsOf<Row>(await query(trx));
}

/** A statement built with knex, and its shape (src/db/prepared.ts); without one it is not prepared. */
export interface ShapedStatement {
  query: StatementQuery;
  shape?: string;
}

/** Runs statements in one transaction scoped as `scope`, sent together; answers each one's rows. */
export type PipelineRunner = (statements: ShapedStatement[]) => Promise<Record<string, unknown>[][]>;

/** Statements run together in one transaction scoped as `scope`; named as the knex client's queries are. */
export function scopedPipeline(knex: Knex, scope: TransactionScope): PipelineRunner {
  const namedStatements = namesStatements(knex.client);
  const { text, values } = scopeStatement(scope);
  const setScope: PipelinedStatement = { text, values, name: namedStatements ? statementName(text, () => text) : undefined };
  return async (statements) => {
    const pipelined = statements.map(({ query, shape }): PipelinedStatement => {
      const compiled = query(sqlOnly).toSQL();
      const { sql, bindings } = compiled.toNative();
      // The shape check compares knex's text, as prepared() does for statements run in a transaction.
      return { text: sql, values: bindings as unknown[], name: namedStatements && shape ? statementName(shape, () => compiled.sql) : undefined };
    });
    const connection = await knex.client.acquireConnection() as pg.Client;
    try {
      const [, ...results] = await runPipelined(connection, [setScope, ...pipelined]);
      return results.map((result) => result.rows);
    } finally {
      await knex.client.releaseConnection(connection);
    }
  };
}

/** Runs each statement in a transaction of its own, scoped as `scope`. */
export function scopedStatements(knex: Knex, scope: TransactionScope): StatementRunner {
  const run = scopedPipeline(knex, scope);
  return async <Row>(query: StatementQuery, shape: string) => (await run([{ query, shape }]))[0] as Row[];
}

/** knex answers a raw statement's result as pg gives it, a built query's as its rows. */
function rowsOf<Row>(result: unknown): Row[] {
  return (Array.isArray(result) ? result : (result as pg.QueryResult).rows) as Row[];
}
