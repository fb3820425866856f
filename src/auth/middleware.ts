// Per-request authorisation: Bearer access token → caller (401 with WWW-Authenticate when
// missing or invalid), then the client's IP allow-list (403) and rate limit (429), then the
// scope that the route needs (403).
import type { RequestHandler } from 'express';
import { forbidden, tooManyRequests, unauthorized } from '../http/errors.ts';
import { AccessTokenService, TokenError } from './access-tokens.ts';
import type { ClientRegistry } from './clients.ts';
import { isAllowed } from './ip-allowlist.ts';
import type { RateLimiter } from './rate-limit.ts';
import { ScopeSet, type Interaction } from './scopes.ts';

export interface AuthorisationDeps {
  tokens: AccessTokenService;
  clients: ClientRegistry;
  rateLimiter: RateLimiter;
  defaultRateLimitPerMinute: number;
}

export function authenticateBearer(deps: AuthorisationDeps): RequestHandler {
  return async (req, _res, next) => {
    const header = req.get('authorization');
    if (!header) throw unauthorized('an access token is required', 'invalid_request');
    const match = /^Bearer\s+([A-Za-z0-9._~+/-]+=*)$/i.exec(header);
    if (!match) throw unauthorized('the Authorization header must be "Bearer <token>"', 'invalid_request');

    let claims;
    try {
      claims = await deps.tokens.verify(match[1]!);
    } catch (error) {
      if (error instanceof TokenError) throw unauthorized(error.message);
      throw error;
    }
    const policy = await deps.clients.policy(claims.clientRowId);
    if (!policy || policy.client.status !== 'ACTIVE' || policy.client.tenant_id !== claims.tenantId) {
      throw unauthorized('the client of this access token is no longer active');
    }
    if (policy.allowlist && !isAllowed(policy.allowlist, req.ip ?? '')) {
      throw forbidden('requests from this address are not allowed for this client');
    }
    const decision = deps.rateLimiter.take(policy.client.id, policy.client.rate_limit_per_minute ?? deps.defaultRateLimitPerMinute);
    if (!decision.allowed) throw tooManyRequests(decision.retryAfterSeconds);

    req.caller = {
      clientRowId: claims.clientRowId,
      clientId: claims.clientId,
      tenantId: claims.tenantId,
      scopes: new ScopeSet(claims.scopes),
    };
    next();
  };
}

/** Requires a scope covering `interaction` on `resourceType` (a function of the request). */
export function requireScope(resourceType: string | ((req: Parameters<RequestHandler>[0]) => string), interaction: Interaction | ((req: Parameters<RequestHandler>[0]) => Interaction)): RequestHandler {
  return (req, _res, next) => {
    const type = typeof resourceType === 'function' ? resourceType(req) : resourceType;
    const wanted = typeof interaction === 'function' ? interaction(req) : interaction;
    if (!req.caller?.scopes.allows(type, wanted)) {
      throw forbidden(`the granted scopes do not allow ${wanted} on ${type}`);
    }
    next();
  };
}

export const requireAdmin: RequestHandler = (req, _res, next) => {
  if (!req.caller?.scopes.admin) throw forbidden('the admin scope is required');
  next();
};
