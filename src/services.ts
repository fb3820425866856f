// The long-lived parts of a server process, built once from the configuration.
import type { Config } from './config/index.ts';
import { openDatabase, type Database } from './db/index.ts';
import { AuditLog } from './audit/index.ts';
import { AccessTokenService } from './auth/access-tokens.ts';
import { ClientAuthenticator } from './auth/client-authentication.ts';
import { ClientRegistry } from './auth/clients.ts';
import { RateLimiter } from './auth/rate-limit.ts';
import { AdminService } from './admin/service.ts';
import { createBlobStore, type BlobStore } from './blob/index.ts';
import { MAPPINGS } from './fhir/mappings/index.ts';
import { ResourceStore } from './fhir/resource-store.ts';
import type { MappingLookup } from './fhir/search/compile.ts';
import { createLogger, type Logger } from './observability/logger.ts';
import { createMetrics, type Metrics } from './observability/metrics.ts';

export interface Services {
  config: Config;
  db: Database;
  logger: Logger;
  metrics: Metrics;
  audit: AuditLog;
  tokens: AccessTokenService;
  clients: ClientRegistry;
  authenticator: ClientAuthenticator;
  rateLimiter: RateLimiter;
  admin: AdminService;
  blobs: BlobStore;
  fhirStore: ResourceStore;
  fhirLookup: MappingLookup;
}

export async function createServices(config: Config, overrides: { logger?: Logger } = {}): Promise<Services> {
  const logger = overrides.logger ?? createLogger(config.logLevel);
  const db = await openDatabase(config, { logger });
  const audit = new AuditLog(db, logger);
  const tokens = await AccessTokenService.open(db, {
    issuer: `${config.publicBaseUrl}/auth`, audience: `${config.publicBaseUrl}/fhir`, ttlSeconds: config.accessTokenTtlSeconds,
  });
  const clients = new ClientRegistry(db);
  const rateLimiter = new RateLimiter(db, logger, config.rateLimitSyncMs);
  rateLimiter.start();
  return {
    config, db, logger, audit, tokens, clients, rateLimiter,
    metrics: createMetrics(),
    authenticator: new ClientAuthenticator(db, clients, `${config.publicBaseUrl}/auth/token`),
    admin: new AdminService(db, audit),
    blobs: createBlobStore(config),
    fhirStore: new ResourceStore(MAPPINGS, { publicBaseUrl: config.publicBaseUrl }),
    fhirLookup: (type) => MAPPINGS.get(type),
  };
}

/** Stops background work and flushes what is pending, then closes the database. */
export async function closeServices(services: Services): Promise<void> {
  await services.rateLimiter.stop();
  await services.audit.drainAll();
  await services.db.close();
}
