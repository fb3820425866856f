// The HTTP application: routes mounted at the URLs of DESIGN.md, behind request observation.
import express from 'express';
import { createRequire } from 'node:module';
import path from 'node:path';
import { adminRoutes } from './admin/routes.ts';
import { authenticateBearer, requireAdmin } from './auth/middleware.ts';
import { tokenEndpoint } from './auth/token-endpoint.ts';
import { InstanceIngest } from './dicomweb/ingest.ts';
import { dicomwebRouter } from './dicomweb/router.ts';
import { fhirRouter } from './fhir/router.ts';
import { parameterRegistry } from './fhir/interactions/search.ts';
import { errorHandler, unknownRoute } from './http/error-handler.ts';
import { unauthorized } from './http/errors.ts';
import { rememberMount, requestObserver } from './http/request-observer.ts';
import type { Services } from './services.ts';

const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

export function createApp(services: Services): express.Express {
  const { config, db, logger, metrics, tokens, clients, rateLimiter } = services;
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', config.trustProxy);
  app.set('etag', false);
  app.use(requestObserver(logger, metrics));

  const authenticate = authenticateBearer({
    tokens, clients, rateLimiter, defaultRateLimitPerMinute: config.defaultRateLimitPerMinute,
  });

  app.get('/healthz', async (_req, res) => {
    await db.platform((trx) => trx.raw('select 1'));
    res.json({ status: 'ok', version });
  });
  app.get('/metrics', async (req, res) => {
    if (config.metricsToken && req.get('authorization') !== `Bearer ${config.metricsToken}`) {
      throw unauthorized('the metrics token is required');
    }
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  app.use('/auth', rememberMount, tokenEndpoint({ ...services, defaultRateLimitPerMinute: config.defaultRateLimitPerMinute }));
  app.get('/auth/jwks.json', (_req, res) => {
    res.json(tokens.jwks());
  });
  const fhirServices = {
    db, store: services.fhirStore, audit: services.audit, baseUrl: `${config.publicBaseUrl}/fhir`,
    lookup: services.fhirLookup, registry: parameterRegistry(services.fhirLookup), logger,
  };
  app.use('/fhir', rememberMount, fhirRouter({ services: fhirServices, version, publicBaseUrl: config.publicBaseUrl, authenticate }));
  const dicomwebServices = {
    db, blobs: services.blobs, audit: services.audit, logger, baseUrl: `${config.publicBaseUrl}/dicomweb`,
    ingest: new InstanceIngest(db, services.blobs), tempDir: path.join(config.dataDir, 'tmp'),
    maxInstanceBytes: config.dicomMaxInstanceBytes,
  };
  app.use('/dicomweb', rememberMount, dicomwebRouter({ authenticate, services: dicomwebServices }));
  app.use('/admin', rememberMount, authenticate, requireAdmin, adminRoutes(services.admin, clients));

  app.use(unknownRoute);
  app.use(errorHandler(logger));
  return app;
}
