// Single statements that need no transaction of the caller's: each runs in a scoped transaction
// of its own, without a knex transaction — whose transactor object costs more CPU than the hot
// statements themselves (DICOMweb reads, audit batches). The statement is built with knex (on an
// instance that cannot run it) and sent on a pooled connection between the scoped BEGIN and
// COMMIT, as a named statement.
import knexFactory, { type Knex } from 'knex';
import type pg from 'pg';
import { prepared, statementName } from './prepared.ts';
import { beginStatement, type TransactionScope } from './scoped-client.ts';

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

/** Runs each statement in a transaction of its own, scoped as `scope`; `namedStatements` as in connect(). */
export function scopedStatements(knex: Knex, scope: TransactionScope, namedStatements: boolean): StatementRunner {
  const begin = beginStatement(scope);
  return async <Row>(query: StatementQuery, shape: string) => {
    const { sql, bindings } = query(sqlOnly).toSQL().toNative();
    const name = namedStatements ? statementName(shape, () => query(sqlOnly).toSQL().sql) : undefined;
    const connection = await knex.client.acquireConnection() as pg.Client;
    try {
      await connection.query(begin);
      try {
        const { rows } = await connection.query({ text: sql, values: bindings as unknown[], ...(name ? { name } : {}) });
        await connection.query('COMMIT');
        return rows as Row[];
      } catch (error) {
        await connection.query('ROLLBACK').catch(() => undefined);
        throw error;
      }
    } finally {
      await knex.client.releaseConnection(connection);
    }
  };
}

/** knex answers a raw statement's result as pg gives it, a built query's as its rows. */
function rowsOf<Row>(result: unknown): Row[] {
  return (Array.isArray(result) ? result : (result as pg.QueryResult).rows) as Row[];
}
