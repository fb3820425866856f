// Client authentication at the token endpoint: client_secret_basic, client_secret_post
// (RFC 6749 §2.3.1) and private_key_jwt (RFC 7523, as profiled by SMART Backend Services:
// RS384 or ES384, aud = token URL, exp at most five minutes ahead, jti never reused).
import type { Request } from 'express';
import { createLocalJWKSet, createRemoteJWKSet, decodeJwt, jwtVerify, type JWTVerifyGetKey, type JSONWebKeySet } from 'jose';
import type { Database } from '../db/index.ts';
import { OAuthError } from '../http/errors.ts';
import type { ApiClient, ClientRegistry } from './clients.ts';
import { verifySecret } from './secrets.ts';

export const JWT_BEARER_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
export const ASSERTION_ALGORITHMS = ['RS384', 'ES384'];
const MAX_ASSERTION_LIFETIME_SECONDS = 300;

export type AuthenticationMethod = 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt';

export interface AuthenticatedClient {
  client: ApiClient;
  method: AuthenticationMethod;
}

/** A failed authentication, with the client it named (if any) for the audit trail. */
export class ClientAuthenticationError extends OAuthError {
  constructor(message: string, clientId?: string, client?: ApiClient, basic = false) {
    super(401, 'invalid_client', message, basic ? { 'WWW-Authenticate': 'Basic realm="cusp"' } : {}, { clientId, client });
  }
}

export class ClientAuthenticator {
  private readonly remoteKeySets = new Map<string, JWTVerifyGetKey>();

  constructor(private readonly db: Database, private readonly registry: ClientRegistry, private readonly tokenUrl: string) {}

  async authenticate(req: Request): Promise<AuthenticatedClient> {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const header = req.get('authorization');
    const basic = header?.match(/^Basic\s+(\S+)$/i);
    if (basic) return this.withSecret(basic[1]!, body);
    if (body.client_assertion_type !== undefined || body.client_assertion !== undefined) return this.withAssertion(body);
    if (typeof body.client_id === 'string' && typeof body.client_secret === 'string') {
      return this.checkSecret(body.client_id, body.client_secret, 'client_secret_post');
    }
    throw new ClientAuthenticationError('client authentication is required (client_secret_basic, client_secret_post or private_key_jwt)');
  }

  private async withSecret(encoded: string, body: Record<string, unknown>): Promise<AuthenticatedClient> {
    if (body.client_secret !== undefined) throw new OAuthError(400, 'invalid_request', 'use only one client authentication method');
    const decoded = Buffer.from(encoded, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw new ClientAuthenticationError('malformed Basic credentials', undefined, undefined, true);
    // RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
    const clientId = decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' '));
    const secret = decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, ' '));
    return this.checkSecret(clientId, secret, 'client_secret_basic');
  }

  private async checkSecret(clientId: string, secret: string, method: AuthenticationMethod): Promise<AuthenticatedClient> {
    const client = await this.registry.findByClientId(clientId);
    const basic = method === 'client_secret_basic';
    if (!client?.client_secret_hash || !(await verifySecret(secret, client.client_secret_hash))) {
      throw new ClientAuthenticationError('unknown client or wrong secret', clientId, client, basic);
    }
    this.requireActive(client, basic);
    return { client, method };
  }

  private async withAssertion(body: Record<string, unknown>): Promise<AuthenticatedClient> {
    if (body.client_assertion_type !== JWT_BEARER_ASSERTION) {
      throw new OAuthError(400, 'invalid_request', `client_assertion_type must be ${JWT_BEARER_ASSERTION}`);
    }
    const assertion = body.client_assertion;
    if (typeof assertion !== 'string') throw new OAuthError(400, 'invalid_request', 'client_assertion is required');
    let issuer: unknown;
    try {
      issuer = decodeJwt(assertion).iss;
    } catch {
      throw new ClientAuthenticationError('client_assertion is not a JWT');
    }
    if (typeof issuer !== 'string') throw new ClientAuthenticationError('client_assertion has no iss');
    if (typeof body.client_id === 'string' && body.client_id !== issuer) {
      throw new ClientAuthenticationError('client_id does not match the assertion issuer', issuer);
    }
    const client = await this.registry.findByClientId(issuer);
    if (!client || (!client.jwks && !client.jwks_uri)) {
      throw new ClientAuthenticationError('unknown client or no keys registered for it', issuer, client);
    }

    let payload;
    try {
      ({ payload } = await jwtVerify(assertion, this.keySet(client), {
        algorithms: ASSERTION_ALGORITHMS,
        issuer: client.client_id,
        subject: client.client_id,
        audience: this.tokenUrl,
        requiredClaims: ['exp', 'jti'],
      }));
    } catch (error) {
      const reason = error instanceof Error ? error.message : 'invalid signature';
      throw new ClientAuthenticationError(`client_assertion rejected: ${reason}`, issuer, client);
    }
    const exp = payload.exp!;
    if (exp - Date.now() / 1000 > MAX_ASSERTION_LIFETIME_SECONDS) {
      throw new ClientAuthenticationError('client_assertion exp is more than five minutes in the future', issuer, client);
    }
    await this.rememberJti(client, String(payload.jti), exp);
    this.requireActive(client, false);
    return { client, method: 'private_key_jwt' };
  }

  private keySet(client: ApiClient): JWTVerifyGetKey {
    if (client.jwks) return createLocalJWKSet(client.jwks as JSONWebKeySet);
    const uri = client.jwks_uri!;
    let keySet = this.remoteKeySets.get(uri);
    if (!keySet) {
      keySet = createRemoteJWKSet(new URL(uri), { cacheMaxAge: 5 * 60_000, cooldownDuration: 30_000 });
      this.remoteKeySets.set(uri, keySet);
    }
    return keySet;
  }

  /** Records the assertion's jti until it expires; a second use is a replay. */
  private async rememberJti(client: ApiClient, jti: string, exp: number): Promise<void> {
    const inserted = await this.db.platform(async (trx) => {
      await trx('client_assertion_jtis').where('expires_at', '<', trx.fn.now()).delete();
      return trx('client_assertion_jtis')
        .insert({ client_id: client.id, jti, expires_at: new Date(exp * 1000) })
        .onConflict(['client_id', 'jti']).ignore()
        .returning('jti');
    });
    if (inserted.length === 0) throw new ClientAuthenticationError('client_assertion jti has already been used', client.client_id, client);
  }

  private requireActive(client: ApiClient, basic: boolean): void {
    if (client.status !== 'ACTIVE') throw new ClientAuthenticationError('client is disabled', client.client_id, client, basic);
  }
}
