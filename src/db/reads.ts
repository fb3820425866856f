// Read queries that need no transaction of the caller's: each runs in a tenant transaction of
// its own, without a knex transaction — whose transactor object costs more CPU than the hot
// DICOMweb reads themselves. The query is built with knex (on an instance that cannot run it) and
// sent on a pooled connection between the scoped BEGIN and COMMIT, as a named statement.
import knexFactory, { type Knex } from 'knex';
import type pg from 'pg';
import { prepared, statementName } from './prepared.ts';
import { beginStatement } from './scoped-client.ts';

/** Builds a SELECT with `q`, a knex instance or transaction. */
export type ReadQuery = (q: Knex) => Knex.QueryBuilder;
/** Runs a read query and answers its rows; `shape` names its statement (src/db/prepared.ts). */
export type Reader = <Row>(query: ReadQuery, shape: string) => Promise<Row[]>;

const sqlOnly = knexFactory({ client: 'pg' });

/** Reads in the transaction `trx`. */
export function readerIn(trx: Knex.Transaction): Reader {
  return async <Row>(query: ReadQuery, shape: string) => (await prepared(query(trx), shape)) as Row[];
}

/** Reads each in a transaction of its own, as `role` for `tenantId`; `namedStatements` as in connect(). */
export function scopedReader(knex: Knex, role: string, tenantId: string, namedStatements: boolean): Reader {
  return async <Row>(query: ReadQuery, shape: string) => {
    const { sql, bindings } = query(sqlOnly).toSQL().toNative();
    const name = namedStatements ? statementName(shape, () => query(sqlOnly).toSQL().sql) : undefined;
    const connection = await knex.client.acquireConnection() as pg.Client;
    try {
      await connection.query(beginStatement({ role, tenantId }));
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
