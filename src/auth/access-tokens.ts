// Access tokens: short-lived JWTs signed with the platform key (ES256), shared by all server
// processes through the signing_keys table; verified locally on every request.
import { randomUUID } from 'node:crypto';
import { SignJWT, exportJWK, generateKeyPair, importJWK, jwtVerify, errors as joseErrors, type JWK, type CryptoKey } from 'jose';
import type { Database } from '../db/index.ts';

const ALGORITHM = 'ES256';

export interface AccessTokenClaims {
  /** api_clients.id */
  clientRowId: string;
  /** the OAuth client_id */
  clientId: string;
  tenantId: string;
  scopes: string[];
  expiresAt: number;
}

export class TokenError extends Error {}

interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  publicJwk: JWK;
}

const VERIFIED_CACHE_SIZE = 10_000;

export class AccessTokenService {
  /** Tokens already verified, so a client's repeated requests skip the signature check. */
  private readonly verified = new Map<string, AccessTokenClaims>();

  private constructor(
    private readonly key: SigningKey,
    private readonly issuer: string,
    private readonly audience: string,
    private readonly ttlSeconds: number,
  ) {}

  /** Loads the active signing key, creating it on first start (race-free across processes). */
  static async open(db: Database, options: { issuer: string; audience: string; ttlSeconds: number }): Promise<AccessTokenService> {
    const key = await db.platform(async (trx) => {
      await trx.raw('select pg_advisory_xact_lock(hashtext(?))', ['cusp.signing_keys']);
      let row = await trx('signing_keys').whereNull('retired_at').orderBy('created_at').first();
      if (!row) {
        const pair = await generateKeyPair(ALGORITHM, { extractable: true });
        const kid = randomUUID();
        row = {
          kid,
          algorithm: ALGORITHM,
          private_jwk: { ...(await exportJWK(pair.privateKey)), kid, alg: ALGORITHM },
          public_jwk: { ...(await exportJWK(pair.publicKey)), kid, alg: ALGORITHM, use: 'sig' },
        };
        await trx('signing_keys').insert(row);
      }
      return row as { kid: string; private_jwk: JWK; public_jwk: JWK };
    });
    return new AccessTokenService({
      kid: key.kid,
      privateKey: (await importJWK(key.private_jwk, ALGORITHM)) as CryptoKey,
      publicKey: (await importJWK(key.public_jwk, ALGORITHM)) as CryptoKey,
      publicJwk: key.public_jwk,
    }, options.issuer, options.audience, options.ttlSeconds);
  }

  get expiresIn(): number {
    return this.ttlSeconds;
  }

  jwks(): { keys: JWK[] } {
    return { keys: [this.key.publicJwk] };
  }

  async issue(claims: Omit<AccessTokenClaims, 'expiresAt'>): Promise<string> {
    return new SignJWT({ scope: claims.scopes.join(' '), tenant: claims.tenantId, cid: claims.clientRowId })
      .setProtectedHeader({ alg: ALGORITHM, kid: this.key.kid, typ: 'at+jwt' })
      .setIssuer(this.issuer)
      .setAudience(this.audience)
      .setSubject(claims.clientId)
      .setIssuedAt()
      .setExpirationTime(`${this.ttlSeconds}s`)
      .setJti(randomUUID())
      .sign(this.key.privateKey);
  }

  async verify(token: string): Promise<AccessTokenClaims> {
    const known = this.verified.get(token);
    if (known) {
      if (known.expiresAt * 1000 > Date.now()) return known;
      this.verified.delete(token);
      throw new TokenError('access token expired');
    }
    const claims = await this.verifySignature(token);
    if (this.verified.size >= VERIFIED_CACHE_SIZE) this.verified.delete(this.verified.keys().next().value!);
    this.verified.set(token, claims);
    return claims;
  }

  private async verifySignature(token: string): Promise<AccessTokenClaims> {
    try {
      const { payload } = await jwtVerify(token, this.key.publicKey, {
        algorithms: [ALGORITHM], issuer: this.issuer, audience: this.audience, typ: 'at+jwt',
      });
      const { sub, tenant, cid, scope, exp } = payload;
      if (typeof sub !== 'string' || typeof tenant !== 'string' || typeof cid !== 'string' || typeof scope !== 'string' || !exp) {
        throw new TokenError('access token is missing required claims');
      }
      return { clientId: sub, tenantId: tenant, clientRowId: cid, scopes: scope.split(' ').filter(Boolean), expiresAt: exp };
    } catch (error) {
      if (error instanceof TokenError) throw error;
      if (error instanceof joseErrors.JWTExpired) throw new TokenError('access token expired');
      throw new TokenError('access token is malformed or its signature is invalid');
    }
  }
}
