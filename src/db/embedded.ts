// Embedded PostgreSQL: PGlite in DATA_DIR, served over a loopback socket so that the ordinary
// `pg` driver (and knex) talk to it exactly as they talk to a real server, with the vacuuming
// and statistics that PostgreSQL's autovacuum would keep (autovacuum.ts).
import fs from 'node:fs/promises';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { startAutovacuum, type Autovacuum } from './autovacuum.ts';

export interface EmbeddedPostgres {
  url: string;
  /** Runs every autovacuum_naptime; runOnce() for a round now. */
  autovacuum: Autovacuum;
  stop(): Promise<void>;
}

/** Connections beyond the pool's that the embedded server takes: migrations, the autovacuum round. */
export const EMBEDDED_EXTRA_CONNECTIONS = 3;

/**
 * `onMaintenanceError` hears of an autovacuum round that failed (the next round tries again);
 * by default it is written to standard error.
 */
export async function startEmbeddedPostgres(dataDir: string, maxConnections: number,
  onMaintenanceError: (error: unknown) => void = (error) => process.stderr.write(`embedded autovacuum: ${String(error)}\n`)): Promise<EmbeddedPostgres> {
  const directory = path.join(dataDir, 'pgdata');
  await fs.mkdir(directory, { recursive: true });
  const db = await PGlite.create(directory);
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections });
  await server.start();
  // PGLiteSocketServer does not expose its bound address; the node server underneath does.
  const address = (server as unknown as { server: { address(): AddressInfo } }).server.address();
  const url = `postgres://postgres@127.0.0.1:${address.port}/postgres`;
  const autovacuum = await startAutovacuum(url, onMaintenanceError);
  return {
    url,
    autovacuum,
    async stop() {
      await autovacuum.stop();
      await server.stop();
      await db.close();
    },
  };
}
