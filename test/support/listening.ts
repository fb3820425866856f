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
