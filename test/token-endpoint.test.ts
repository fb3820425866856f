import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { TOKEN_URL, createClient, createTenant, startTestApp, type TestApp } from './support/app.ts';

interface KeyPair { privateKey: CryptoKey; publicKey: CryptoKey; kid: string; alg: 'RS384' | 'ES384' }

async function keyPair(alg: KeyPair['alg']): Promise<KeyPair> {
  const pair = await generateKeyPair(alg, { extractable: true });
  return { ...pair, kid: randomUUID(), alg };
}

async function jwks(...pairs: KeyPair[]) {
  return { keys: await Promise.all(pairs.map(async (p) => ({ ...(await exportJWK(p.publicKey)), kid: p.kid, alg: p.alg, use: 'sig' }))) };
}

function assertion(key: KeyPair, clientId: string, claims: { aud?: string; exp?: number; jti?: string } = {}) {
  const jwt = new SignJWT({})
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
    .setIssuer(clientId).setSubject(clientId)
    .setAudience(claims.aud ?? TOKEN_URL)
    .setJti(claims.jti ?? randomUUID())
    .setExpirationTime(claims.exp ?? Math.floor(Date.now() / 1000) + 240);
  return jwt.sign(key.privateKey);
}

describe('SMART Backend Services token endpoint', () => {
  let app: TestApp;
  let tenantId: string;

  before(async () => {
    app = await startTestApp();
    tenantId = await createTenant(app.services);
  });
  after(() => app.close());

  const postToken = (form: Record<string, string>) => app.request.post('/auth/token').type('form').send(form);

  describe('discovery', () => {
    it('publishes the SMART configuration without a token', async () => {
      const res = await app.request.get('/fhir/.well-known/smart-configuration').expect(200);
      assert.equal(res.body.token_endpoint, TOKEN_URL);
      assert.deepEqual(res.body.grant_types_supported, ['client_credentials']);
      assert.ok(res.body.token_endpoint_auth_methods_supported.includes('private_key_jwt'));
      assert.deepEqual(res.body.token_endpoint_auth_signing_alg_values_supported, ['RS384', 'ES384']);
      assert.ok(res.body.capabilities.includes('client-confidential-asymmetric'));
    });

    it('serves the CapabilityStatement without a token, naming the token endpoint', async () => {
      const res = await app.request.get('/fhir/metadata').expect(200).expect('content-type', /application\/fhir\+json/);
      assert.equal(res.body.resourceType, 'CapabilityStatement');
      assert.equal(res.body.fhirVersion, '4.0.1');
      const oauth = res.body.rest[0].security.extension[0];
      assert.equal(oauth.extension[0].valueUri, TOKEN_URL);
    });
  });

  describe('client secrets', () => {
    it('client_secret_basic returns a bearer token with the granted scopes', async () => {
      const { client, secret } = await createClient(app.services, tenantId, ['system/*.read']);
      const res = await app.request.post('/auth/token').auth(client.client_id, secret).type('form')
        .send({ grant_type: 'client_credentials', scope: 'system/*.read' }).expect(200);
      assert.equal(res.body.token_type, 'bearer');
      assert.equal(res.body.scope, 'system/*.read');
      assert.equal(res.body.expires_in, 300);
      assert.equal(res.headers['cache-control'], 'no-store');
      assert.match(res.body.access_token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
    });

    it('client_secret_post is accepted too', async () => {
      const { client, secret } = await createClient(app.services, tenantId, ['system/Patient.read']);
      const res = await postToken({ grant_type: 'client_credentials', client_id: client.client_id, client_secret: secret }).expect(200);
      assert.equal(res.body.scope, 'system/Patient.read');
    });

    it('a wrong secret is 401 invalid_client', async () => {
      const { client } = await createClient(app.services, tenantId, ['system/*.read']);
      const res = await app.request.post('/auth/token').auth(client.client_id, 'not-the-secret').type('form')
        .send({ grant_type: 'client_credentials' }).expect(401);
      assert.equal(res.body.error, 'invalid_client');
      assert.match(res.headers['www-authenticate'] ?? '', /^Basic/);
    });

    it('an unknown client is 401 invalid_client', async () => {
      const res = await postToken({ grant_type: 'client_credentials', client_id: 'nobody', client_secret: 'x' }).expect(401);
      assert.equal(res.body.error, 'invalid_client');
    });

    it('only client_credentials is supported', async () => {
      const { client, secret } = await createClient(app.services, tenantId, ['system/*.read']);
      const res = await app.request.post('/auth/token').auth(client.client_id, secret).type('form')
        .send({ grant_type: 'password' }).expect(400);
      assert.equal(res.body.error, 'unsupported_grant_type');
    });

    it('a JSON body is refused: the token request is form-encoded', async () => {
      const res = await app.request.post('/auth/token').send({ grant_type: 'client_credentials' }).expect(400);
      assert.equal(res.body.error, 'invalid_request');
    });
  });

  describe('scopes', () => {
    it('grants a requested scope narrower than the registered ones (v1 and v2 syntax)', async () => {
      const { client, secret } = await createClient(app.services, tenantId, ['system/*.*']);
      const res = await app.request.post('/auth/token').auth(client.client_id, secret).type('form')
        .send({ grant_type: 'client_credentials', scope: 'system/Patient.read system/Observation.rs' }).expect(200);
      assert.equal(res.body.scope, 'system/Patient.read system/Observation.rs');
    });

    it('drops requested scopes the client does not hold', async () => {
      const { client, secret } = await createClient(app.services, tenantId, ['system/Patient.read']);
      const res = await app.request.post('/auth/token').auth(client.client_id, secret).type('form')
        .send({ grant_type: 'client_credentials', scope: 'system/Patient.read system/Patient.write admin' }).expect(200);
      assert.equal(res.body.scope, 'system/Patient.read');
    });

    it('is invalid_scope when nothing requested is allowed', async () => {
      const { client, secret } = await createClient(app.services, tenantId, ['system/Patient.read']);
      const res = await app.request.post('/auth/token').auth(client.client_id, secret).type('form')
        .send({ grant_type: 'client_credentials', scope: 'system/Claim.read' }).expect(400);
      assert.equal(res.body.error, 'invalid_scope');
    });
  });

  describe('private_key_jwt', () => {
    let rsa: KeyPair;
    let ec: KeyPair;
    let jwksServer: http.Server;
    let jwksUri: string;

    before(async () => {
      rsa = await keyPair('RS384');
      ec = await keyPair('ES384');
      const published = await jwks(ec);
      jwksServer = http.createServer((_req, res) => res.setHeader('content-type', 'application/json').end(JSON.stringify(published)));
      await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
      jwksUri = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks.json`;
    });
    after(() => new Promise<void>((resolve) => jwksServer.close(() => resolve())));

    const withAssertion = (clientAssertion: string, scope = 'system/*.read') => postToken({
      grant_type: 'client_credentials', scope,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: clientAssertion,
    });

    it('accepts an RS384 assertion verified with a registered JWKS', async () => {
      const { client } = await createClient(app.services, tenantId, ['system/*.read'], { jwks: await jwks(rsa) });
      const res = await withAssertion(await assertion(rsa, client.client_id)).expect(200);
      assert.equal(res.body.scope, 'system/*.read');
    });

    it('accepts an ES384 assertion verified with keys fetched from a JWKS URL', async () => {
      const { client } = await createClient(app.services, tenantId, ['system/*.read'], { jwks_uri: jwksUri });
      await withAssertion(await assertion(ec, client.client_id)).expect(200);
    });

    it('a client registered with keys gets no secret', async () => {
      const { client, secret } = await createClient(app.services, tenantId, ['system/*.read'], { jwks: await jwks(rsa) });
      assert.equal(secret, null);
      assert.equal(client.client_secret_hash, null);
    });

    it('rejects a replayed assertion (same jti)', async () => {
      const { client } = await createClient(app.services, tenantId, ['system/*.read'], { jwks: await jwks(rsa) });
      const signed = await assertion(rsa, client.client_id);
      await withAssertion(signed).expect(200);
      const res = await withAssertion(signed).expect(401);
      assert.equal(res.body.error, 'invalid_client');
      assert.match(res.body.error_description, /jti/);
    });

    it('rejects an expired assertion', async () => {
      const { client } = await createClient(app.services, tenantId, ['system/*.read'], { jwks: await jwks(rsa) });
      const res = await withAssertion(await assertion(rsa, client.client_id, { exp: Math.floor(Date.now() / 1000) - 60 })).expect(401);
      assert.match(res.body.error_description, /exp/);
    });

    it('rejects an assertion that expires more than five minutes ahead', async () => {
      const { client } = await createClient(app.services, tenantId, ['system/*.read'], { jwks: await jwks(rsa) });
      await withAssertion(await assertion(rsa, client.client_id, { exp: Math.floor(Date.now() / 1000) + 3600 })).expect(401);
    });

    it('rejects an assertion for another audience', async () => {
      const { client } = await createClient(app.services, tenantId, ['system/*.read'], { jwks: await jwks(rsa) });
      await withAssertion(await assertion(rsa, client.client_id, { aud: 'https://elsewhere.example/token' })).expect(401);
    });

    it('rejects an assertion signed by a key the client did not register', async () => {
      const { client } = await createClient(app.services, tenantId, ['system/*.read'], { jwks: await jwks(rsa) });
      const stranger = { ...(await keyPair('RS384')), kid: rsa.kid };
      await withAssertion(await assertion(stranger, client.client_id)).expect(401);
    });

    it('rejects an assertion signed with an algorithm outside RS384/ES384', async () => {
      const { client } = await createClient(app.services, tenantId, ['system/*.read'], { jwks: await jwks(rsa) });
      const hs = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setIssuer(client.client_id).setSubject(client.client_id)
        .setAudience(TOKEN_URL).setJti(randomUUID()).setExpirationTime('2m').sign(new TextEncoder().encode('x'.repeat(32)));
      await withAssertion(hs).expect(401);
    });

    it('rejects a wrong client_assertion_type', async () => {
      const res = await postToken({ grant_type: 'client_credentials', client_assertion_type: 'urn:other', client_assertion: 'x' }).expect(400);
      assert.equal(res.body.error, 'invalid_request');
    });
  });
});
