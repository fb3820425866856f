// POST /auth/token — OAuth 2.0 client credentials grant for SMART Backend Services
// (https://hl7.org/fhir/smart-app-launch/backend-services.html).
import express, { Router, type Request } from 'express';
import type { AuditLog } from '../audit/index.ts';
import { auditSource } from '../http/context.ts';
import { OAuthError } from '../http/errors.ts';
import type { AccessTokenService } from './access-tokens.ts';
import type { ClientAuthenticator } from './client-authentication.ts';
import { policyOf, type ApiClient } from './clients.ts';
import { isAllowed } from './ip-allowlist.ts';
import type { RateLimiter } from './rate-limit.ts';
import { grantableScopes } from './scopes.ts';

export interface TokenEndpointDeps {
  authenticator: ClientAuthenticator;
  tokens: AccessTokenService;
  rateLimiter: RateLimiter;
  audit: AuditLog;
  defaultRateLimitPerMinute: number;
}

export function tokenEndpoint(deps: TokenEndpointDeps): Router {
  const router = Router();
  router.post('/token', express.urlencoded({ extended: false, limit: '64kb' }), async (req, res) => {
    res.set('Cache-Control', 'no-store').set('Pragma', 'no-cache');
    try {
      const grant = await grantToken(req, deps);
      await deps.audit.record({
        ...auditSource(req), tenantId: grant.tenantId, actorId: grant.clientRowId,
        eventType: 'LOGIN_SUCCESS', outcome: 'SUCCESS',
        metadata: { client_id: grant.clientId, method: grant.method, scope: grant.scope },
      });
      res.json({ access_token: grant.accessToken, token_type: 'bearer', expires_in: deps.tokens.expiresIn, scope: grant.scope });
    } catch (error) {
      if (!(error instanceof OAuthError)) throw error;
      const { client, clientId } = error.subject;
      const body = (req.body ?? {}) as Record<string, unknown>;
      await deps.audit.record({
        ...auditSource(req), tenantId: client?.tenant_id ?? null, actorId: client?.id ?? null,
        eventType: 'LOGIN_FAILED', outcome: 'FAILURE',
        metadata: {
          error: error.error, reason: error.message,
          client_id: client?.client_id ?? clientId ?? (typeof body.client_id === 'string' ? body.client_id.slice(0, 128) : undefined),
        },
      });
      res.status(error.status).set(error.headers).json({ error: error.error, error_description: error.message });
    }
  });
  return router;
}

function fail(status: 400 | 403 | 429, code: OAuthError['error'], message: string, client: ApiClient, headers = {}) {
  return new OAuthError(status, code, message, headers, { client });
}

async function grantToken(req: Request, deps: TokenEndpointDeps) {
  if (!req.is('application/x-www-form-urlencoded')) {
    throw new OAuthError(400, 'invalid_request', 'the token request must be application/x-www-form-urlencoded');
  }
  const body = req.body as Record<string, unknown>;
  if (body.grant_type !== 'client_credentials') {
    throw new OAuthError(400, body.grant_type ? 'unsupported_grant_type' : 'invalid_request', 'grant_type must be client_credentials');
  }
  const { client, method } = await deps.authenticator.authenticate(req);

  const { allowlist } = policyOf(client);
  if (allowlist && !isAllowed(allowlist, req.ip ?? '')) {
    throw fail(403, 'access_denied', 'requests from this address are not allowed for this client', client);
  }
  const decision = deps.rateLimiter.take(client.id, client.rate_limit_per_minute ?? deps.defaultRateLimitPerMinute);
  if (!decision.allowed) {
    throw fail(429, 'slow_down', 'rate limit exceeded', client, { 'Retry-After': String(decision.retryAfterSeconds) });
  }

  const requested = typeof body.scope === 'string' ? body.scope.split(/\s+/).filter(Boolean) : client.scopes;
  const granted = grantableScopes(requested, client.scopes);
  if (granted.length === 0) throw fail(400, 'invalid_scope', 'none of the requested scopes is allowed for this client', client);

  const accessToken = await deps.tokens.issue({ clientRowId: client.id, clientId: client.client_id, tenantId: client.tenant_id, scopes: granted });
  return { accessToken, scope: granted.join(' '), tenantId: client.tenant_id, clientRowId: client.id, clientId: client.client_id, method };
}
