// Named statements. PostgreSQL plans an unnamed statement at every execution; a named one is
// prepared once per connection and, after a few executions, runs a cached generic plan. For the
// hot read queries — joins under row-level security — planning costs more than running them.
// A caller names a statement by its shape: whatever determines the query's SQL text (the text
// itself, for raw SQL), never its values. Each connection keeps every statement it prepared:
// past MAX_STATEMENTS shapes, queries run unnamed.
import { createHash } from 'node:crypto';
import type { Knex } from 'knex';

const MAX_STATEMENTS = 500;
const names = new Map<string, string>();
/** When checking (the tests do), the SQL text each shape gave first. */
let textsOfShapes: Map<string, string> | undefined;

/** Makes every prepared() compile its query and throw if a shape ever gives another text than before. */
export function checkStatementShapes(): void {
  textsOfShapes ??= new Map();
}

/** `query`, to run as a named statement; the same `shape` must always give the same SQL text. */
export function prepared<Query extends Knex.QueryBuilder | Knex.Raw>(query: Query, shape: string): Query {
  if (textsOfShapes) {
    const text = query.toSQL().sql;
    const known = textsOfShapes.get(shape) ?? text;
    if (known !== text) throw new Error(`the statement shape ${JSON.stringify(shape)} gave two SQL texts:\n${known}\n${text}`);
    textsOfShapes.set(shape, text);
  }
  let name = names.get(shape);
  if (name === undefined) {
    if (names.size >= MAX_STATEMENTS) return query;
    name = `cusp_${createHash('sha1').update(shape).digest('hex').slice(0, 24)}`;
    names.set(shape, name);
  }
  return query.options({ name }) as Query;
}
