// Statements sent to PostgreSQL together and answered together: the extended query protocol with
// one Sync after the last. PostgreSQL runs the statements before a Sync as one implicit
// transaction: committed at the Sync, rolled back whole at the first error, after which it skips
// the rest. So a scoped statement costs one round trip rather than three (BEGIN, the statement,
// COMMIT, each waiting for the last), and nothing runs unless the scope before it was set.
// node-postgres runs such a sequence as a query object of its own (its `submit` protocol).
import { createRequire } from 'node:module';
import pg from 'pg';
import { serialize } from 'pg-protocol';

export interface PipelinedStatement {
  text: string;
  values: unknown[];
  /** Prepared under this name once per connection (src/db/prepared.ts); unnamed when absent. */
  name?: string;
}

const require = createRequire(import.meta.url);
const { prepareValue } = require('pg/lib/utils.js') as { prepareValue(value: unknown): unknown };

/** What node-postgres keeps on a connection of the statements it has prepared there. */
interface PreparingConnection extends pg.Connection {
  parsedStatements: Record<string, string>;
  submittedNamedStatements: Record<string, string>;
}

/** node-postgres's result, as its own query class fills it. */
type ResultBuilder = pg.Result & {
  addFields(fields: pg.FieldDef[]): void;
  parseRow(fields: unknown[]): unknown;
  addRow(row: unknown): void;
  addCommandComplete(message: { text: string }): void;
};

/** A result whose values the global type parsers read (src/db/index.ts sets them). */
const newResult = () => new pg.Result('', undefined as never) as ResultBuilder;

class Pipeline {
  private readonly results: pg.Result[] = [];
  readonly done: Promise<pg.Result[]>;
  private settle!: { resolve(results: pg.Result[]): void; reject(error: unknown): void };
  private current: ResultBuilder | undefined;
  private rowError: unknown;
  /** Names this pipeline parses, in order; each ParseComplete confirms the next. */
  private parsing: { name: string; text: string }[] = [];
  private confirmed = 0;
  private connection: PreparingConnection | undefined;
  private readonly onParseComplete = () => this.confirmParse();

  constructor(private readonly statements: PipelinedStatement[]) {
    this.done = new Promise((resolve, reject) => {
      this.settle = { resolve, reject };
    });
  }

  /** Writes every message at once, or none: a Sync after a half-written sequence would commit its first half. */
  submit(connection: pg.Connection): Error | null {
    const preparing = connection as PreparingConnection;
    const messages: Buffer[] = [];
    const parsing: { name: string; text: string }[] = [];
    try {
      for (const { text, values, name = '' } of this.statements) {
        const known = name ? preparing.parsedStatements[name] ?? preparing.submittedNamedStatements[name] ?? parsing.find((parse) => parse.name === name)?.text : undefined;
        if (known === undefined) {
          messages.push(serialize.parse({ text, name, types: [] }));
          if (name) parsing.push({ name, text });
        } else if (known !== text) {
          throw new Error(`the prepared statement ${name} was used for a different statement`);
        }
        messages.push(
          serialize.bind({ statement: name, portal: '', values, valueMapper: prepareValue }),
          serialize.describe({ type: 'P', name: '' }),
          serialize.execute({ portal: '', rows: 0 }),
        );
      }
    } catch (error) {
      return error instanceof Error ? error : new Error(String(error));
    }
    messages.push(serialize.sync());
    for (const { name, text } of parsing) preparing.submittedNamedStatements[name] = text;
    this.parsing = parsing;
    this.connection = preparing;
    preparing.on('parseComplete', this.onParseComplete);
    preparing.stream.write(Buffer.concat(messages));
    return null;
  }

  handleRowDescription(message: { fields: pg.FieldDef[] }): void {
    this.current = newResult();
    this.current.addFields(message.fields);
  }

  handleDataRow(message: { fields: unknown[] }): void {
    if (this.rowError) return;
    try {
      this.current!.addRow(this.current!.parseRow(message.fields));
    } catch (error) {
      this.rowError = error; // reported once PostgreSQL has answered the rest
    }
  }

  handleCommandComplete(message: { text: string }): void {
    const result = this.current ?? newResult();
    result.addCommandComplete(message);
    this.results.push(result);
    this.current = undefined;
  }

  handleEmptyQuery(): void {
    this.results.push(newResult());
  }

  handleError(error: unknown): void {
    this.finish(error);
  }

  handleReadyForQuery(): void {
    this.finish(this.rowError);
  }

  handlePortalSuspended(): void {}
  handleCopyInResponse(): void {}
  handleCopyData(): void {}

  private confirmParse(): void {
    const parsed = this.parsing[this.confirmed++];
    if (!parsed || !this.connection) return;
    this.connection.parsedStatements[parsed.name] = parsed.text;
    delete this.connection.submittedNamedStatements[parsed.name];
  }

  private finish(error?: unknown): void {
    const connection = this.connection;
    if (connection) {
      connection.off('parseComplete', this.onParseComplete);
      // A Parse not confirmed failed, or was skipped after a failure: parse it again next time.
      for (const { name } of this.parsing.slice(this.confirmed)) delete connection.submittedNamedStatements[name];
      this.connection = undefined;
    }
    if (error === undefined) this.settle.resolve(this.results);
    else this.settle.reject(error);
  }
}

/**
 * Runs `statements` on `client` in one implicit transaction, in one round trip; answers one
 * result per statement. Any failure rolls back all of them.
 */
export function runPipelined(client: pg.Client, statements: PipelinedStatement[]): Promise<pg.Result[]> {
  const pipeline = new Pipeline(statements);
  client.query(pipeline as unknown as pg.Submittable);
  return pipeline.done;
}
