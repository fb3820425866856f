// /fhir: discovery without a token, then the routes of routes.ts behind a Bearer token and the
// SMART scope each needs; every interaction is audited (https://hl7.org/fhir/R4/http.html).
import express, { Router, type Request, type RequestHandler, type Response } from 'express';
import type { AuditEvent } from '../audit/index.ts';
import type { Transaction } from '../db/index.ts';
import { smartConfiguration } from '../auth/smart-configuration.ts';
import { auditSource, requireCaller } from '../http/context.ts';
import { requireScope } from '../auth/middleware.ts';
import type { Interaction } from '../auth/scopes.ts';
import { HttpError, badRequest, forbidden, notFound } from '../http/errors.ts';
import { capabilityStatement } from './capability-statement.ts';
import type { FhirRequest, FhirServices } from './interactions/context.ts';
import { FHIR_JSON, negotiateFormat, sendResult } from './http.ts';
import { FHIR_ROUTES, type FhirRoute } from './routes.ts';

const RESOURCE_TYPE = /^[A-Z][A-Za-z]+$/;

/** The route's path parameters (none of the FHIR routes has a wildcard, so each is one string). */
const paramsOf = (req: Request) => req.params as FhirRequest['params'];
const bodyParsers = [
  express.json({ type: [FHIR_JSON, 'application/json', 'application/json+fhir', 'application/json-patch+json'], limit: '20mb' }),
  express.urlencoded({ extended: false, limit: '1mb' }), // POST _search
];

/** The SMART permission of a request outside the route table, from its method and path shape. */
function interactionOf(req: Request): Interaction {
  const first = (req.params as { rest?: string[] }).rest?.[0]; // id | _search | _history
  if (req.method === 'GET' || req.method === 'HEAD') return first === undefined || first === '_history' ? 'search' : 'read';
  if (req.method === 'POST') return first === '_search' ? 'search' : 'create';
  if (req.method === 'DELETE') return 'delete';
  return req.method === 'PUT' || req.method === 'PATCH' ? 'update' : 'read';
}

function typeOf(req: Request): string {
  const type = (req.params as { type?: string }).type ?? '';
  if (!RESOURCE_TYPE.test(type)) throw badRequest(`"${type}" is not a FHIR resource type`);
  return type;
}

const eventType = (interaction: string) => `FHIR_${interaction.toUpperCase().replace(/-/g, '_')}`;

function auditEvent(req: Request, route: FhirRoute, outcome: AuditEvent['outcome'], resourceId?: string, status?: number): AuditEvent {
  return {
    ...auditSource(req),
    eventType: eventType(route.interaction),
    resourceType: paramsOf(req).type,
    resourceId: resourceId ?? paramsOf(req).id,
    outcome,
    metadata: status ? { status } : undefined,
  };
}

function handle(route: FhirRoute, services: FhirServices): RequestHandler {
  return async (req: Request, res: Response) => {
    const caller = requireCaller(req);
    const params = paramsOf(req);
    const request: FhirRequest = {
      req, caller, services, params,
      writeScope: (trx: Transaction, entry) => ({
        trx, store: services.store, lookup: services.lookup, registry: services.registry,
        tenantId: caller.tenantId, actorId: caller.clientRowId,
        audit: (resourceId) => services.audit.recordInTransaction(trx, entry
          ? { ...auditSource(req), eventType: eventType(entry.interaction), resourceType: entry.resourceType, resourceId: resourceId || undefined, outcome: 'SUCCESS' }
          : auditEvent(req, route, 'SUCCESS', resourceId || undefined)),
      }),
    };
    let result;
    try {
      // Refusals (scope, unknown type, format) are audited like any other failure.
      if (params.type !== undefined) {
        typeOf(req);
        if (!caller.scopes.allows(params.type, route.permission)) throw forbidden(`the granted scopes do not allow ${route.permission} on ${params.type}`);
        services.store.mapping(params.type); // 404 for types without a mapping
      }
      negotiateFormat(req);
      result = await route.handler(request);
    } catch (error) {
      const status = error instanceof HttpError ? error.status : 500;
      await services.audit.record(auditEvent(req, route, 'FAILURE', undefined, status));
      throw error;
    }
    // A read is audited durably before its answer leaves; a write was audited in its transaction.
    if (!route.writes) await services.audit.record(auditEvent(req, route, 'SUCCESS'));
    sendResult(req, res, result);
  };
}

export function fhirRouter(options: { services: FhirServices; version: string; publicBaseUrl: string; authenticate: RequestHandler }): Router {
  const { services } = options;
  const router = Router();
  router.get('/metadata', (req, res) => {
    negotiateFormat(req);
    const statement = capabilityStatement({ baseUrl: options.publicBaseUrl, version: options.version, mappings: services.store.types().map((t) => services.store.mapping(t)) });
    sendResult(req, res, { status: 200, body: statement });
  });
  router.get('/.well-known/smart-configuration', (_req, res) => {
    res.json(smartConfiguration(options.publicBaseUrl));
  });

  router.use(options.authenticate);
  for (const route of FHIR_ROUTES) {
    const method = route.method.toLowerCase() as 'get' | 'post' | 'put' | 'patch' | 'delete';
    const handlers: RequestHandler[] = route.method === 'POST' || route.method === 'PUT' || route.method === 'PATCH' ? bodyParsers : [];
    router[method](route.path, ...handlers, handle(route, services));
  }
  // Interactions not (yet) served: the scope is still checked, then 404.
  router.all('/:type{/*rest}', requireScope(typeOf, interactionOf), (req) => {
    throw notFound(`${req.method} ${req.path} is not an interaction this server supports`);
  });
  return router;
}
