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
// Kept on globalThis: mocha loads the root hooks through require and the specs through import,
// which can give this module two instances.
const shared = globalThis as { cuspTestDatabaseUrl?: string };

export function testDatabaseUrl(): string {
  if (!shared.cuspTestDatabaseUrl) throw new Error('the test database is not ready (test/support/hooks.ts sets it up)');
  return shared.cuspTestDatabaseUrl;
}

export async function setUpTestDatabase(): Promise<void> {
  if (embedded) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cusp-test-'));
    embeddedServer = await startEmbeddedPostgres(dir, 40);
    shared.cuspTestDatabaseUrl = embeddedServer.url;
  } else {
    shared.cuspTestDatabaseUrl = process.env.TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
    const client = new pg.Client(shared.cuspTestDatabaseUrl);
    await client.connect();
    try {
      await client.query('drop schema if exists public cascade; create schema public');
    } finally {
      await client.end();
    }
  }
  await runMigrations(shared.cuspTestDatabaseUrl);
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

/** One statement as the owner role (plain SQL from "other software"); its rows. */
export async function ownerQuery(text: string, values: unknown[] = []): Promise<Record<string, any>[]> {
  const client = await ownerClient();
  try {
    return (await client.query(text, values)).rows;
  } finally {
    await client.end();
  }
}
