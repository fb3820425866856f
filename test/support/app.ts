// A Cusp application on the shared test database, with factories for tenants and clients.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import supertest from 'supertest';
import { createApp } from '../../src/app.ts';
import { loadConfig, type Config } from '../../src/config/index.ts';
import type { NewClient } from '../../src/admin/service.ts';
import { closeServices, createServices, type Services } from '../../src/services.ts';
import { testDatabaseUrl } from './database.ts';

export const PUBLIC_BASE_URL = 'http://cusp.test';
export const TOKEN_URL = `${PUBLIC_BASE_URL}/auth/token`;
export const SYSTEM = { actorType: 'SYSTEM' as const };

export interface TestApp {
  services: Services;
  request: ReturnType<typeof supertest>;
  /** Every log line the app wrote, parsed. */
  logs: Record<string, unknown>[];
  close(): Promise<void>;
}

export function testConfig(overrides: Partial<Config> = {}): Config {
  return {
    ...loadConfig({}),
    databaseUrl: testDatabaseUrl(),
    databasePoolSize: 5,
    dataDir: fs.mkdtempSync(path.join(os.tmpdir(), 'cusp-app-')),
    publicBaseUrl: PUBLIC_BASE_URL,
    rateLimitSyncMs: 0,
    logLevel: 'info',
    ...overrides,
  };
}

export async function startTestApp(overrides: Partial<Config> = {}): Promise<TestApp> {
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line) logs.push(JSON.parse(line));
      done();
    },
  });
  const services = await createServices(testConfig(overrides), { logger: pino({ level: 'info' }, sink) });
  return { services, request: supertest(createApp(services)), logs, close: () => closeServices(services) };
}

let tenantCounter = 0;

export async function createTenant(services: Services, name = `Test practice ${++tenantCounter}`): Promise<string> {
  const tenant = await services.admin.createTenant({ name, type: 'GROUP_PRACTICE' }, SYSTEM);
  return tenant.id as string;
}

export async function createClient(services: Services, tenantId: string, scopes: string[], extra: Partial<NewClient> = {}) {
  const { client, clientSecret } = await services.admin.createClient({ tenant_id: tenantId, name: 'test client', scopes, ...extra }, SYSTEM);
  return { client, secret: clientSecret! };
}

/** Client credentials with client_secret_basic; returns the access token. */
export async function tokenFor(app: TestApp, clientId: string, secret: string, scope?: string): Promise<string> {
  const response = await app.request.post('/auth/token').auth(clientId, secret)
    .type('form').send({ grant_type: 'client_credentials', ...(scope ? { scope } : {}) });
  if (response.status !== 200) throw new Error(`token request failed: ${response.status} ${JSON.stringify(response.body)}`);
  return response.body.access_token as string;
}

/** A tenant with a client holding `scopes`, and a token for it. */
export async function tenantWithToken(app: TestApp, scopes: string[], extra: Partial<NewClient> = {}) {
  const tenantId = await createTenant(app.services);
  const { client, secret } = await createClient(app.services, tenantId, scopes, extra);
  const token = await tokenFor(app, client.client_id, secret);
  return { tenantId, client, secret, token };
}

/** A user who is a member of the tenant as `userType` (a Practitioner when a clinician); the user's id. */
export async function memberUser(app: TestApp, tenantId: string, user: { email: string; fullName: string; userType: string }): Promise<string> {
  return app.services.db.platform(async (trx) => {
    const [created] = await trx('users').insert({ email: user.email, full_name: user.fullName }).returning('id');
    await trx('user_tenants').insert({ tenant_id: tenantId, user_id: created.id, user_type: user.userType });
    return created.id as string;
  });
}
