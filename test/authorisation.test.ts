import assert from 'node:assert/strict';
import { createClient, createTenant, startTestApp, tenantWithToken, tokenFor, type TestApp } from './support/app.ts';

/** Flips one character in the middle of a JWT part, keeping it base64url. */
function tamper(part: string): string {
  const i = Math.floor(part.length / 2);
  return part.slice(0, i) + (part[i] === 'A' ? 'B' : 'A') + part.slice(i + 1);
}

describe('access tokens and scopes on every request', () => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp();
  });
  after(() => app.close());

  describe('Bearer tokens', () => {
    it('a request without a token is 401 with WWW-Authenticate', async () => {
      const res = await app.request.get('/fhir/Patient').expect(401);
      assert.match(res.headers['www-authenticate'] ?? '', /^Bearer realm="cusp", error="invalid_request"/);
      assert.equal(res.body.resourceType, 'OperationOutcome');
      assert.equal(res.body.issue[0].code, 'login');
    });

    it('a malformed Authorization header is 401', async () => {
      await app.request.get('/fhir/Patient').set('Authorization', 'Token abc').expect(401);
      await app.request.get('/fhir/Patient').set('Authorization', 'Bearer not-a-jwt').expect(401)
        .expect('www-authenticate', /error="invalid_token"/);
    });

    it('a token whose payload was altered (another tenant) is 401', async () => {
      const a = await tenantWithToken(app, ['system/*.*']);
      const b = await tenantWithToken(app, ['system/*.*']);
      const [header, payload, signature] = a.token.split('.') as [string, string, string];
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
      claims.tenant = b.tenantId;
      const forged = [header, Buffer.from(JSON.stringify(claims)).toString('base64url'), signature].join('.');
      await app.request.get('/fhir/Patient').auth(forged, { type: 'bearer' }).expect(401);
      await app.request.get('/fhir/Patient').auth(`${header}.${payload}.${tamper(signature)}`, { type: 'bearer' }).expect(401);
    });

    it('an unsigned token (alg none) is 401', async () => {
      const { token } = await tenantWithToken(app, ['system/*.*']);
      const [, payload] = token.split('.');
      const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'at+jwt' })).toString('base64url')}.${payload}.`;
      await app.request.get('/fhir/Patient').auth(none, { type: 'bearer' }).expect(401);
    });

    it('an expired token is 401', async function () {
      this.timeout(30_000);
      // exp has whole-second precision: a 3 s lifetime is valid for at least 2 s after issue.
      const shortLived = await startTestApp({ accessTokenTtlSeconds: 3 });
      try {
        const { token } = await tenantWithToken(shortLived, ['system/*.read']);
        await shortLived.request.get('/fhir/Patient/1').auth(token, { type: 'bearer' }).expect(404);
        await new Promise((resolve) => setTimeout(resolve, 4100));
        const res = await shortLived.request.get('/fhir/Patient/1').auth(token, { type: 'bearer' }).expect(401);
        assert.match(res.body.issue[0].diagnostics, /expired/);
      } finally {
        await shortLived.close();
      }
    });

    it('a disabled client can get no token, and its tokens stop working', async () => {
      const admin = await tenantWithToken(app, ['admin']);
      const { client, secret, token } = await tenantWithToken(app, ['system/*.read']);
      await app.request.get('/fhir/Patient/1').auth(token, { type: 'bearer' }).expect(404);
      await app.request.delete(`/admin/clients/${client.client_id}`).auth(admin.token, { type: 'bearer' }).expect(200);
      await app.request.get('/fhir/Patient/1').auth(token, { type: 'bearer' }).expect(401);
      const res = await app.request.post('/auth/token').auth(client.client_id, secret).type('form').send({ grant_type: 'client_credentials' }).expect(401);
      assert.equal(res.body.error, 'invalid_client');
    });
  });

  describe('scopes', () => {
    it('a read scope allows reads and searches of its type only', async () => {
      const { token } = await tenantWithToken(app, ['system/Patient.read']);
      // Past authorisation: 404 for an unknown id, 200 for searches.
      await app.request.get('/fhir/Patient/123').auth(token, { type: 'bearer' }).expect(404);
      await app.request.get('/fhir/Patient?name=x').auth(token, { type: 'bearer' }).expect(200);
      await app.request.post('/fhir/Patient/_search').auth(token, { type: 'bearer' }).expect(200);
      const res = await app.request.get('/fhir/Observation').auth(token, { type: 'bearer' }).expect(403);
      assert.equal(res.body.issue[0].code, 'forbidden');
      await app.request.post('/fhir/Patient').auth(token, { type: 'bearer' }).send({}).expect(403);
      await app.request.put('/fhir/Patient/123').auth(token, { type: 'bearer' }).send({}).expect(403);
      await app.request.delete('/fhir/Patient/123').auth(token, { type: 'bearer' }).expect(403);
    });

    it('v2 scopes grant exactly their letters', async () => {
      const { token } = await tenantWithToken(app, ['system/Patient.rs', 'system/Observation.c']);
      await app.request.get('/fhir/Patient/1').auth(token, { type: 'bearer' }).expect(404);
      await app.request.post('/fhir/Patient').auth(token, { type: 'bearer' }).send({}).expect(403);
      // Past authorisation: the empty body is refused as such.
      await app.request.post('/fhir/Observation').auth(token, { type: 'bearer' }).send({}).expect(400);
      await app.request.get('/fhir/Observation/1').auth(token, { type: 'bearer' }).expect(403);
    });

    it('DICOMweb needs ImagingStudy scopes: read for retrieval, write for storage', async () => {
      const patientOnly = await tenantWithToken(app, ['system/Patient.*']);
      await app.request.get('/dicomweb/studies').auth(patientOnly.token, { type: 'bearer' }).expect(403);
      const reader = await tenantWithToken(app, ['system/ImagingStudy.read']);
      await app.request.get('/dicomweb/studies').auth(reader.token, { type: 'bearer' }).expect(200, []);
      await app.request.post('/dicomweb/studies').auth(reader.token, { type: 'bearer' }).expect(403);
      await app.request.delete('/dicomweb/studies/1.2.3').auth(reader.token, { type: 'bearer' }).expect(403);
    });

    it('the admin API needs the admin scope', async () => {
      const { token } = await tenantWithToken(app, ['system/*.*']);
      await app.request.get('/admin/tenants').auth(token, { type: 'bearer' }).expect(403);
      await app.request.post('/admin/clients').auth(token, { type: 'bearer' }).send({}).expect(403);
    });
  });

  describe('IP allow-lists', () => {
    it('a client limited to other addresses gets 403 at the token endpoint', async () => {
      const tenantId = await createTenant(app.services);
      const { client, secret } = await createClient(app.services, tenantId, ['system/*.read'], { ip_allowlist: ['10.20.0.0/16'] });
      const res = await app.request.post('/auth/token').auth(client.client_id, secret).type('form')
        .send({ grant_type: 'client_credentials' }).expect(403);
      assert.equal(res.body.error, 'access_denied');
    });

    it('requests from outside the allow-list get 403, from inside pass (behind a trusted proxy)', async () => {
      const proxied = await startTestApp({ trustProxy: 1 });
      try {
        const tenantId = await createTenant(proxied.services);
        const { client, secret } = await createClient(proxied.services, tenantId, ['system/*.read'], { ip_allowlist: ['203.0.113.0/24', '2001:db8::/32'] });
        const res = await proxied.request.post('/auth/token').set('X-Forwarded-For', '203.0.113.9').auth(client.client_id, secret)
          .type('form').send({ grant_type: 'client_credentials' }).expect(200);
        const token = res.body.access_token as string;
        await proxied.request.get('/fhir/Patient/1').set('X-Forwarded-For', '203.0.113.77').auth(token, { type: 'bearer' }).expect(404);
        await proxied.request.get('/fhir/Patient/1').set('X-Forwarded-For', '2001:db8::5').auth(token, { type: 'bearer' }).expect(404);
        const denied = await proxied.request.get('/fhir/Patient/1').set('X-Forwarded-For', '198.51.100.1').auth(token, { type: 'bearer' }).expect(403);
        assert.equal(denied.body.issue[0].code, 'forbidden');
      } finally {
        await proxied.close();
      }
    });

    it('the admin API refuses an invalid allow-list entry', async () => {
      const admin = await tenantWithToken(app, ['admin']);
      const res = await app.request.post('/admin/clients').auth(admin.token, { type: 'bearer' })
        .send({ tenant_id: admin.tenantId, name: 'x', scopes: ['system/*.read'], ip_allowlist: ['10.0.0.0/33'] }).expect(400);
      assert.deepEqual(res.body.issue[0].expression, ['ip_allowlist']);
    });
  });

  describe('rate limits', () => {
    // Limits count in one-minute windows: start a test well inside one, so it cannot straddle two.
    beforeEach(async function () {
      this.timeout(20_000);
      const intoMinute = Date.now() % 60_000;
      if (intoMinute > 50_000) await new Promise((resolve) => setTimeout(resolve, 60_000 - intoMinute + 50));
    });

    it('over the limit is 429 with Retry-After', async () => {
      const { token } = await tenantWithToken(app, ['system/*.read'], { rate_limit_per_minute: 4 });
      // The token request itself counted once.
      for (let i = 0; i < 3; i++) await app.request.get('/fhir/Patient/1').auth(token, { type: 'bearer' }).expect(404);
      const res = await app.request.get('/fhir/Patient/1').auth(token, { type: 'bearer' }).expect(429);
      const retryAfter = Number(res.headers['retry-after']);
      assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${res.headers['retry-after']}`);
      assert.equal(res.body.issue[0].code, 'throttled');
    });

    it('is shared by several server processes through PostgreSQL', async () => {
      const second = await startTestApp();
      try {
        const tenantId = await createTenant(app.services);
        const { client, secret } = await createClient(app.services, tenantId, ['system/*.read'], { rate_limit_per_minute: 6 });
        const token = await tokenFor(app, client.client_id, secret); // 1 on the first process
        for (let i = 0; i < 3; i++) await app.request.get('/fhir/Patient/1').auth(token, { type: 'bearer' }).expect(404); // 4
        await app.services.rateLimiter.sync();
        // The second process learns the shared count when it first sees the client: 4 + this one.
        await second.request.get('/fhir/Patient/1').auth(token, { type: 'bearer' }).expect(404);
        await second.services.rateLimiter.sync();
        await second.request.get('/fhir/Patient/1').auth(token, { type: 'bearer' }).expect(404); // 6
        await second.request.get('/fhir/Patient/1').auth(token, { type: 'bearer' }).expect(429);
        await second.services.rateLimiter.sync();
        await app.services.rateLimiter.sync();
        await app.request.get('/fhir/Patient/1').auth(token, { type: 'bearer' }).expect(429);
      } finally {
        await second.close();
      }
    });
  });
});
