// /fhir: discovery without a token, then every interaction behind a Bearer token and the SMART
// scope for its resource type (https://hl7.org/fhir/R4/http.html).
import { Router, type Request, type RequestHandler } from 'express';
import { requireScope } from '../auth/middleware.ts';
import type { Interaction } from '../auth/scopes.ts';
import { smartConfiguration } from '../auth/smart-configuration.ts';
import { badRequest, notFound } from '../http/errors.ts';
import { capabilityStatement } from './capability-statement.ts';

const RESOURCE_TYPE = /^[A-Z][A-Za-z]+$/;

/** The SMART permission an interaction needs, from its method and the path after the type. */
export function interactionOf(req: Request): Interaction {
  const rest = (req.params as { rest?: string[] }).rest ?? [];
  const second = rest[0]; // id | _search | _history
  switch (req.method) {
    case 'GET':
    case 'HEAD':
      return second === undefined || second === '_history' ? 'search' : 'read';
    case 'POST':
      return second === '_search' ? 'search' : 'create';
    case 'PUT':
    case 'PATCH':
      return 'update';
    case 'DELETE':
      return 'delete';
    default:
      return 'read';
  }
}

function resourceTypeOf(req: Request): string {
  const type = (req.params as { type?: string }).type ?? '';
  if (!RESOURCE_TYPE.test(type)) throw badRequest(`"${type}" is not a FHIR resource type`);
  return type;
}

export function fhirRouter(options: { baseUrl: string; version: string; authenticate: RequestHandler }): Router {
  const router = Router();
  router.get('/metadata', (_req, res) => {
    res.type('application/fhir+json').send(JSON.stringify(capabilityStatement({ ...options, resources: [] })));
  });
  router.get('/.well-known/smart-configuration', (_req, res) => {
    res.json(smartConfiguration(options.baseUrl));
  });

  router.use(options.authenticate);
  router.all('/:type{/*rest}', requireScope(resourceTypeOf, interactionOf), (req) => {
    throw notFound(`resource type ${req.params.type} is not supported by this server`);
  });
  return router;
}
