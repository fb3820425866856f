// A Cusp server listening on a real loopback port, for clients that speak HTTP themselves.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { createApp } from '../../src/app.ts';
import type { Config } from '../../src/config/index.ts';
import { closeServices, createServices, type Services } from '../../src/services.ts';
import { testConfig } from './app.ts';

export interface ListeningApp {
  services: Services;
  baseUrl: string;
  close(): Promise<void>;
}

export async function startListeningApp(overrides: Partial<Config> = {}): Promise<ListeningApp> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  // Links in responses must lead back to this server, so its public URL is its real address.
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const services = await createServices(testConfig({ publicBaseUrl: baseUrl, ...overrides }), { logger: pino({ level: 'silent' }) });
  server.on('request', createApp(services));
  return {
    services,
    baseUrl,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await closeServices(services);
    },
  };
}

/** A client of `tenantId` holding `scopes`, and its token obtained over HTTP as a client would (client_secret_basic). */
export async function listeningToken(server: ListeningApp, tenantId: string, scopes: string[]): Promise<string> {
  const { client, clientSecret } = await server.services.admin.createClient({ tenant_id: tenantId, name: 'test client', scopes }, { actorType: 'SYSTEM' });
  const response = await fetch(`${server.baseUrl}/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${client.client_id}:${clientSecret}`).toString('base64')}` },
    body: 'grant_type=client_credentials',
  });
  if (response.status !== 200) throw new Error(`token request failed: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { access_token: string }).access_token;
}

let listeningTenants = 0;

/** A new tenant on the listening server, and a token for a client of it holding `scopes`. */
export async function listeningTenantWithToken(server: ListeningApp, scopes: string[]): Promise<{ tenantId: string; token: string }> {
  const tenant = await server.services.admin.createTenant({ name: `Listening practice ${++listeningTenants}`, type: 'GROUP_PRACTICE' }, { actorType: 'SYSTEM' });
  const tenantId = tenant.id as string;
  return { tenantId, token: await listeningToken(server, tenantId, scopes) };
}
