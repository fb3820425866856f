// A running Cusp process: services, bootstrap, the HTTP listener, and graceful shutdown.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from './app.ts';
import { bootstrap, credentialsPath } from './bootstrap.ts';
import type { Config } from './config/index.ts';
import { closeServices, createServices, type Services } from './services.ts';
import { MAPPINGS } from './fhir/mappings/index.ts';
import { warmSummaries } from './fhir/summary.ts';
import { warmValidators } from './fhir/validation.ts';

export interface RunningServer {
  services: Services;
  server: http.Server;
  url: string;
  stop(): Promise<void>;
}

export async function startServer(config: Config): Promise<RunningServer> {
  const services = await createServices(config);
  const { logger } = services;
  const credentials = await bootstrap(config, services.db, services.audit);
  if (credentials) logger.info({ file: credentialsPath(config), client_id: credentials.client_id }, 'bootstrap credentials written');

  // Compile the FHIR schema validators and load the summary definitions before taking traffic,
  // not in the first client's request.
  warmValidators([...MAPPINGS.keys(), 'Bundle']);
  warmSummaries();

  const server = http.createServer(createApp(services));
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  logger.info({ port, database: services.db.embedded ? 'embedded' : 'postgresql', blobs: config.blobStore }, 'cusp listening');

  let stopping: Promise<void> | undefined;
  return {
    services,
    server,
    url: `http://127.0.0.1:${port}`,
    stop() {
      // Stop accepting, let in-flight requests finish, then flush audit and close the database.
      stopping ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }).then(() => closeServices(services));
      return stopping;
    },
  };
}
