// One database for the whole test run: real PostgreSQL (TEST_DATABASE_URL, default the local
// server's `test` database) reset to an empty schema, or the embedded PGlite when
// CUSP_TEST_EMBEDDED=1. Migrations run once; tests share it and use distinct tenants.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { runMigrations } from '../../src/db/index.ts';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../../src/db/embedded.ts';

export const embedded = process.env.CUSP_TEST_EMBEDDED === '1';
let embeddedServer: EmbeddedPostgres | undefined;
let url: string | undefined;

export function testDatabaseUrl(): string {
  if (!url) throw new Error('the test database is not ready (test/support/hooks.ts sets it up)');
  return url;
}

export async function setUpTestDatabase(): Promise<void> {
  if (embedded) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cusp-test-'));
    embeddedServer = await startEmbeddedPostgres(dir, 40);
    url = embeddedServer.url;
  } else {
    url = process.env.TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
    const client = new pg.Client(url);
    await client.connect();
    try {
      await client.query('drop schema if exists public cascade; create schema public');
    } finally {
      await client.end();
    }
  }
  await runMigrations(url);
}

export async function tearDownTestDatabase(): Promise<void> {
  await embeddedServer?.stop();
}

/** A direct connection as the connecting (owner) role, for catalogue checks and RLS probes. */
export async function ownerClient(): Promise<pg.Client> {
  const client = new pg.Client(testDatabaseUrl());
  await client.connect();
  return client;
}
