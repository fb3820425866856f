// What PostgreSQL's autovacuum does, for the embedded database, which has none: PGlite is one
// standalone backend, with no autovacuum launcher. Without it the tables would never get the
// planner's statistics (so every plan would be made as if they were empty) and their dead rows
// would never be vacuumed. Every autovacuum_naptime, the tables that autovacuum would pick by its
// own settings are vacuumed, analysed or both, one statement at a time on a connection of their
// own. Per-table storage parameters are not read.
import type pg from 'pg';
import { withConnection } from './connection.ts';

export interface Autovacuum {
  /** One round: the tables autovacuum would take now. Resolves with what it did, e.g. ["vacuum analyze public.patients"]. */
  runOnce(): Promise<string[]>;
  /** Ends the rounds, waiting for one under way. */
  stop(): Promise<void>;
}

/** Autovacuum's conditions (PostgreSQL documentation, "The Autovacuum Daemon"), with the server's own settings. */
const DUE_TABLES = `with settings as (
    select current_setting('autovacuum_vacuum_threshold')::float8 as vacuum_threshold,
           current_setting('autovacuum_vacuum_scale_factor')::float8 as vacuum_scale,
           current_setting('autovacuum_vacuum_insert_threshold')::float8 as insert_threshold,
           current_setting('autovacuum_vacuum_insert_scale_factor')::float8 as insert_scale,
           current_setting('autovacuum_analyze_threshold')::float8 as analyze_threshold,
           current_setting('autovacuum_analyze_scale_factor')::float8 as analyze_scale,
           current_setting('autovacuum_freeze_max_age')::float8 as freeze_max_age
  )
  select format('%I.%I', s.schemaname, s.relname) as name,
         s.n_dead_tup > vacuum_threshold + vacuum_scale * greatest(c.reltuples, 0)
           or s.n_ins_since_vacuum > insert_threshold + insert_scale * greatest(c.reltuples, 0)
           or age(c.relfrozenxid) > freeze_max_age as vacuum,
         s.n_mod_since_analyze > analyze_threshold + analyze_scale * greatest(c.reltuples, 0) as analyze
  from pg_stat_user_tables s join pg_class c on c.oid = s.relid, settings
  order by s.schemaname, s.relname`;

export async function startAutovacuum(url: string, onError: (error: unknown) => void): Promise<Autovacuum> {
  const naptimeSeconds = await withConnection(url, async (client) => Number((await client.query<{ naptime: string }>(
    "select setting as naptime from pg_settings where name = 'autovacuum_naptime'")).rows[0]!.naptime));
  let running: Promise<string[]> | undefined;
  const runOnce = () => {
    running ??= withConnection(url, vacuumDueTables).finally(() => {
      running = undefined;
    });
    return running;
  };
  const timer = setInterval(() => {
    runOnce().catch(onError);
  }, naptimeSeconds * 1000);
  timer.unref();
  return {
    runOnce,
    async stop() {
      clearInterval(timer);
      await running?.catch(() => undefined);
    },
  };
}

async function vacuumDueTables(client: pg.Client): Promise<string[]> {
  const { rows } = await client.query<{ name: string; vacuum: boolean; analyze: boolean }>(DUE_TABLES);
  const done: string[] = [];
  for (const { name, vacuum, analyze } of rows) {
    const command = vacuum ? (analyze ? 'vacuum analyze' : 'vacuum') : analyze ? 'analyze' : undefined;
    if (!command) continue;
    await client.query(`${command} ${name}`);
    done.push(`${command} ${name}`);
  }
  return done;
}
