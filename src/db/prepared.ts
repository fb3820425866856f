// Named statements. PostgreSQL plans an unnamed statement at every execution; a named one is
// prepared once per connection and, after a few executions, runs a cached generic plan. For the
// hot read queries — joins under row-level security — planning costs more than running them.
// A statement's name is derived from its SQL text, so the same text is the same statement on every
// connection. Each connection keeps every statement it prepared: past MAX_STATEMENTS distinct
// texts (query shapes, not values), queries run unnamed.
import { createHash } from 'node:crypto';
import type { Knex } from 'knex';

const MAX_STATEMENTS = 500;
const names = new Set<string>();

/** `query`, to run as a named statement. */
export function prepared<Query extends Knex.QueryBuilder | Knex.Raw>(query: Query): Query {
  const name = `cusp_${createHash('sha1').update(query.toSQL().sql).digest('hex').slice(0, 24)}`;
  if (!names.has(name)) {
    if (names.size >= MAX_STATEMENTS) return query;
    names.add(name);
  }
  return query.options({ name }) as Query;
}
