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

/** Makes every named statement compare its text with the shape's first, and throw if they differ. */
export function checkStatementShapes(): void {
  textsOfShapes ??= new Map();
}

/** The statement name of `shape` (undefined past MAX_STATEMENTS); `text` gives the SQL text, for the check. */
export function statementName(shape: string, text: () => string): string | undefined {
  if (textsOfShapes) {
    const sql = text();
    const known = textsOfShapes.get(shape) ?? sql;
    if (known !== sql) throw new Error(`the statement shape ${JSON.stringify(shape)} gave two SQL texts:\n${known}\n${sql}`);
    textsOfShapes.set(shape, sql);
  }
  let name = names.get(shape);
  if (name === undefined) {
    if (names.size >= MAX_STATEMENTS) return undefined;
    name = `cusp_${createHash('sha1').update(shape).digest('hex').slice(0, 24)}`;
    names.set(shape, name);
  }
  return name;
}

/** `query`, to run as a named statement; the same `shape` must always give the same SQL text. */
export function prepared<Query extends Knex.QueryBuilder | Knex.Raw>(query: Query, shape: string): Query {
  const name = statementName(shape, () => query.toSQL().sql);
  return name === undefined ? query : query.options({ name }) as Query;
}
