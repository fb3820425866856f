// `npm run bench`: throughput of the foundation's hot paths on this machine.
// Uses BENCH_DATABASE_URL (default: the local PostgreSQL `test` database, reset first).
// DICOMweb: see bench/dicomweb.ts; BENCH_ORTHANC=1 measures Orthanc side by side.
// BENCH_ONLY=fhir or BENCH_ONLY=dicomweb takes one part only.
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
import { MAPPINGS } from '../src/fhir/mappings/index.ts';
import { warmValidators } from '../src/fhir/validation.ts';
import { dicomwebBenchOptions, runDicomwebBench } from './dicomweb.ts';
import { measure as measureLoops } from './measure.ts';

const url = process.env.BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
const DURATION_MS = Number(process.env.BENCH_SECONDS || 5) * 1000;
const CONCURRENCY = 32;
const ONLY = process.env.BENCH_ONLY;
if (ONLY && ONLY !== 'fhir' && ONLY !== 'dicomweb') throw new Error(`BENCH_ONLY is fhir or dicomweb, not ${ONLY}`);

async function resetDatabase(): Promise<void> {
  const client = new pg.Client(url);
  await client.connect();
  await client.query('drop schema if exists public cascade; create schema public');
  await client.end();
  await runMigrations(url);
}

/** Runs `operation` from CONCURRENCY loops for DURATION_MS; prints operations per second, p50 and p99 ms. */
const measure = (name: string, operation: () => Promise<unknown>) =>
  measureLoops(name, async () => {
    await operation();
  }, { concurrency: CONCURRENCY, durationMs: DURATION_MS });

const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });

/** One HTTP exchange; resolves with the status and the parsed JSON body, if any. */
function call(port: number, method: string, pathName: string, token: string, body?: unknown): Promise<{ status: number; body?: any }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request({
      host: '127.0.0.1', port, path: pathName, method, agent,
      headers: { authorization: `Bearer ${token}`, ...(payload ? { 'content-type': 'application/fhir+json' } : {}) },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined });
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

let patientCounter = 0;
const patient = () => ({
  resourceType: 'Patient',
  identifier: [{ system: 'urn:oid:2.16.840.1.113883.3.9999.1', value: `BENCH-${++patientCounter}-${process.pid}` }],
  name: [{ family: ['Okafor', 'Nguyen', 'Silva', 'Kowalski', 'Haddad'][patientCounter % 5], given: ['Ada'] }],
  gender: 'female',
  birthDate: `19${50 + (patientCounter % 50)}-0${1 + (patientCounter % 9)}-1${patientCounter % 9}`,
  telecom: [{ system: 'phone', value: '+1 415 555 0100', use: 'mobile' }],
  address: [{ use: 'home', line: ['1200 Valencia Street'], city: 'San Francisco', postalCode: '94110' }],
});

/** The FHIR API and audit measurements, on an in-process server. */
async function benchFhir(): Promise<void> {
  const config = { ...loadConfig({}), databaseUrl: url, dataDir: fs.mkdtempSync(path.join(os.tmpdir(), 'cusp-bench-')), logLevel: 'warn' };
  const services = await createServices(config, { logger: pino({ level: 'warn' }) });
  const server = http.createServer(createApp(services));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const system = { actorType: 'SYSTEM' as const };
  const tenant = await services.admin.createTenant({ name: 'Bench practice' }, system);
  const { client } = await services.admin.createClient({ tenant_id: tenant.id, name: 'bench', scopes: ['system/*.*'], rate_limit_per_minute: 10_000_000 }, system);
  const token = await services.tokens.issue({ clientRowId: client.id, clientId: client.client_id, tenantId: tenant.id, scopes: ['system/*.*'] });

  warmValidators([...MAPPINGS.keys()]);
  const expect = (status: number, result: { status: number }) => {
    if (result.status !== status) throw new Error(`expected ${status}, got ${result.status}`);
  };

  // Token check, allow-list, rate limit and scope on every request (the id is unknown: 404).
  await measure('authorised request', async () => expect(404, await call(port, 'GET', '/fhir/Patient/1', token)));

  const ids: string[] = [];
  await measure('FHIR create Patient', async () => {
    const result = await call(port, 'POST', '/fhir/Patient', token, patient());
    expect(201, result);
    ids.push(result.body.id);
  });
  // A live database has statistics (autovacuum); a freshly loaded bench database needs them now.
  {
    const client = new pg.Client(url);
    await client.connect();
    await client.query('analyze');
    await client.end();
  }
  let next = 0;
  await measure('FHIR read Patient', async () => expect(200, await call(port, 'GET', `/fhir/Patient/${ids[next++ % ids.length]}`, token)));
  await measure('FHIR search Patient?family=oka&birthdate=ge1970', async () =>
    expect(200, await call(port, 'GET', '/fhir/Patient?family=oka&birthdate=ge1970&_count=20', token)));
  await measure('FHIR transaction of 10 Patient creates', async () => {
    const entry = Array.from({ length: 10 }, () => ({ resource: patient(), request: { method: 'POST', url: 'Patient' } }));
    expect(200, await call(port, 'POST', '/fhir', token, { resourceType: 'Bundle', type: 'transaction', entry }));
  });
  // Read audit records, group-committed.
  await measure('audit event (group commit)', () => services.audit.record({
    tenantId: tenant.id, actorType: 'API_CLIENT', actorId: client.id, eventType: 'PATIENT_VIEWED', resourceType: 'Patient', resourceId: '1', outcome: 'SUCCESS',
  }));

  server.close();
  agent.destroy();
  await closeServices(services);
}

await resetDatabase();
if (ONLY !== 'dicomweb') await benchFhir();

// DICOMweb, on a server process of its own (and Orthanc's, when asked) over the same database.
if (ONLY !== 'fhir') await runDicomwebBench(dicomwebBenchOptions(url));

