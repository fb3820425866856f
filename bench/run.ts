// `npm run bench`: throughput of the foundation's hot paths on this machine.
// Uses BENCH_DATABASE_URL (default: the local PostgreSQL `test` database, reset first).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import pino from 'pino';
import { createApp } from '../src/app.ts';
import { loadConfig } from '../src/config/index.ts';
import { runMigrations } from '../src/db/index.ts';
import { closeServices, createServices } from '../src/services.ts';

const url = process.env.BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
const DURATION_MS = Number(process.env.BENCH_SECONDS || 5) * 1000;
const CONCURRENCY = 32;

async function resetDatabase(): Promise<void> {
  const client = new pg.Client(url);
  await client.connect();
  await client.query('drop schema if exists public cascade; create schema public');
  await client.end();
  await runMigrations(url);
}

/** Runs `operation` from CONCURRENCY loops for DURATION_MS; returns operations per second and p99 ms. */
async function measure(name: string, operation: () => Promise<void>) {
  const latencies: number[] = [];
  const deadline = Date.now() + DURATION_MS;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (Date.now() < deadline) {
      const started = process.hrtime.bigint();
      await operation();
      latencies.push(Number(process.hrtime.bigint() - started) / 1e6);
    }
  }));
  latencies.sort((x, y) => x - y);
  const result = {
    name,
    perSecond: Math.round(latencies.length / (DURATION_MS / 1000)),
    p50ms: Number(latencies[Math.floor(latencies.length * 0.5)]?.toFixed(2)),
    p99ms: Number(latencies[Math.floor(latencies.length * 0.99)]?.toFixed(2)),
  };
  console.log(JSON.stringify(result));
  return result;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
function get(port: number, pathName: string, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: pathName, agent, headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    }).on('error', reject);
  });
}

await resetDatabase();
const config = { ...loadConfig({}), databaseUrl: url, dataDir: fs.mkdtempSync(path.join(os.tmpdir(), 'cusp-bench-')), logLevel: 'warn' };
const services = await createServices(config, { logger: pino({ level: 'warn' }) });
const server = http.createServer(createApp(services));
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address() as AddressInfo;

const system = { actorType: 'SYSTEM' as const };
const tenant = await services.admin.createTenant({ name: 'Bench practice' }, system);
const { client } = await services.admin.createClient({ tenant_id: tenant.id, name: 'bench', scopes: ['system/*.*'], rate_limit_per_minute: 10_000_000 }, system);
const token = await services.tokens.issue({ clientRowId: client.id, clientId: client.client_id, tenantId: tenant.id, scopes: ['system/*.*'] });

// Token check, allow-list, rate limit and scope on every request (the route then answers 404).
await measure('authorised request', async () => {
  if ((await get(port, '/fhir/Patient/1', token)) !== 404) throw new Error('unexpected status');
});
// Read audit records, group-committed.
await measure('audit event (group commit)', () => services.audit.record({
  tenantId: tenant.id, actorType: 'API_CLIENT', actorId: client.id, eventType: 'PATIENT_VIEWED', resourceType: 'Patient', resourceId: '1', outcome: 'SUCCESS',
}));

server.close();
agent.destroy();
await closeServices(services);
