import assert from 'node:assert/strict';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { testDatabaseUrl } from './support/database.ts';
import { startTestApp, tenantWithToken, type TestApp } from './support/app.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const run = promisify(execFile);

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

interface Started { child: ChildProcess; port: number; output: () => string }

/** Runs `npm start`'s command and waits until it listens. */
async function startProcess(env: Record<string, string>): Promise<Started> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: ROOT, env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${output}`)), 60_000);
    child.stdout!.on('data', () => {
      if (output.includes('cusp listening')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}:\n${output}`)));
  });
  return { child, port, output: () => output };
}

async function stopProcess(started: Started): Promise<number | null> {
  const exited = new Promise<number | null>((resolve) => started.child.once('exit', (code) => resolve(code)));
  started.child.kill('SIGTERM');
  return exited;
}

async function tokenFrom(credentials: { token_url: string; client_id: string; client_secret: string }, port: number): Promise<Response> {
  return fetch(`http://127.0.0.1:${port}/auth/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${credentials.client_id}:${credentials.client_secret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: 'grant_type=client_credentials&scope=admin%20system%2F*.read',
  });
}

describe('running the server', function () {
  this.timeout(120_000);

  describe('npm start on the embedded database', () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cusp-start-'));
    const credentialsFile = path.join(dataDir, 'bootstrap-credentials.json');
    let first: Started;

    before(async () => {
      first = await startProcess({ DATA_DIR: dataDir, DATABASE_URL: '' });
    });

    it('writes bootstrap credentials readable by the owner only', () => {
      const mode = fs.statSync(credentialsFile).mode & 0o777;
      assert.equal(mode, 0o600);
      const credentials = JSON.parse(fs.readFileSync(credentialsFile, 'utf8'));
      for (const key of ['tenant_id', 'client_id', 'client_secret', 'token_url', 'fhir_base_url', 'dicomweb_base_url']) {
        assert.equal(typeof credentials[key], 'string', key);
      }
      assert.equal(credentials.token_url, `http://localhost:${first.port}/auth/token`);
      assert.equal(credentials.fhir_base_url, `http://localhost:${first.port}/fhir`);
    });

    it('accepts a token obtained with those credentials', async () => {
      const credentials = JSON.parse(fs.readFileSync(credentialsFile, 'utf8'));
      const res = await tokenFrom(credentials, first.port);
      assert.equal(res.status, 200);
      const { access_token: token, scope } = (await res.json()) as { access_token: string; scope: string };
      assert.equal(scope, 'admin system/*.read');
      const tenants = await fetch(`http://127.0.0.1:${first.port}/admin/tenants`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(tenants.status, 200);
      const list = (await tenants.json()) as { id: string }[];
      assert.deepEqual(list.map((t) => t.id), [credentials.tenant_id]);
      const health = await fetch(`http://127.0.0.1:${first.port}/healthz`);
      assert.equal(health.status, 200);
    });

    it('shuts down cleanly on SIGTERM, and a restart keeps the same credentials', async () => {
      const before = fs.readFileSync(credentialsFile, 'utf8');
      assert.equal(await stopProcess(first), 0);
      const second = await startProcess({ DATA_DIR: dataDir, DATABASE_URL: '' });
      try {
        assert.equal(fs.readFileSync(credentialsFile, 'utf8'), before);
        const res = await tokenFrom(JSON.parse(before), second.port);
        assert.equal(res.status, 200);
      } finally {
        assert.equal(await stopProcess(second), 0);
      }
    });
  });

  it('BOOTSTRAP_CLIENT_ID and BOOTSTRAP_CLIENT_SECRET fix the bootstrap credentials', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cusp-fixed-'));
    const started = await startProcess({ DATA_DIR: dataDir, DATABASE_URL: '', BOOTSTRAP_CLIENT_ID: 'ops-admin', BOOTSTRAP_CLIENT_SECRET: 'a-long-deployment-secret' });
    try {
      const credentials = JSON.parse(fs.readFileSync(path.join(dataDir, 'bootstrap-credentials.json'), 'utf8'));
      assert.equal(credentials.client_id, 'ops-admin');
      assert.equal(credentials.client_secret, 'a-long-deployment-secret');
      assert.equal((await tokenFrom(credentials, started.port)).status, 200);
    } finally {
      await stopProcess(started);
    }
  });

  describe('the cusp command', () => {
    const cusp = (args: string[], env: Record<string, string> = {}) =>
      run(process.execPath, [path.join(ROOT, 'bin/cusp.mjs'), ...args], { cwd: ROOT, env: { ...process.env, ...env } });

    it('migrate applies the migrations to a new embedded database, then has nothing left to do', async () => {
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cusp-migrate-'));
      const first = JSON.parse((await cusp(['migrate'], { DATA_DIR: dataDir, DATABASE_URL: '' })).stdout);
      assert.ok(first.applied.includes('001_foundation.ts'));
      const again = JSON.parse((await cusp(['migrate'], { DATA_DIR: dataDir, DATABASE_URL: '' })).stdout);
      assert.deepEqual(again.applied, []);
    });

    it('tenant create and client create print JSON, and the client can get a token', async () => {
      const env = { DATABASE_URL: testDatabaseUrl() };
      const tenant = JSON.parse((await cusp(['tenant', 'create', '--name', 'Smile Group', '--type', 'DSO'], env)).stdout);
      assert.equal(tenant.type, 'DSO');
      const client = JSON.parse((await cusp(['client', 'create', '--tenant', tenant.id, '--name', 'PMS sync', '--scopes', 'system/Patient.read system/Encounter.read', '--rate-limit', '120'], env)).stdout);
      assert.equal(client.tenant_id, tenant.id);
      assert.deepEqual(client.scopes, ['system/Patient.read', 'system/Encounter.read']);
      assert.equal(client.rate_limit_per_minute, 120);
      assert.equal(client.client_secret_hash, undefined);

      const app = await startTestApp();
      try {
        await app.request.post('/auth/token').auth(client.client_id, client.client_secret).type('form')
          .send({ grant_type: 'client_credentials' }).expect(200);
      } finally {
        await app.close();
      }
    });

    it('a bad argument is a clear error and exit code 2', async () => {
      await assert.rejects(cusp(['client', 'create', '--tenant', 'not-a-uuid', '--name', 'x', '--scopes', 'system/*.read'], { DATABASE_URL: testDatabaseUrl() }),
        (error: { code: number; stderr: string }) => error.code === 2 && /tenant_id must be a UUID/.test(error.stderr));
    });
  });
});

describe('operations', () => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp();
  });
  after(() => app.close());

  it('/metrics reports request counts and latency by route pattern', async () => {
    await app.request.get('/fhir/metadata').expect(200);
    const res = await app.request.get('/metrics').expect(200);
    assert.match(res.text, /cusp_http_requests_total\{method="GET",route="\/fhir\/metadata",status="200"\} \d+/);
    assert.match(res.text, /cusp_http_request_duration_seconds_bucket\{le="0\.005",method="GET",route="\/fhir\/metadata"\}/);
  });

  it('METRICS_TOKEN protects /metrics', async () => {
    const guarded = await startTestApp({ metricsToken: 'scrape-me' });
    try {
      await guarded.request.get('/metrics').expect(401);
      await guarded.request.get('/metrics').set('Authorization', 'Bearer scrape-me').expect(200);
    } finally {
      await guarded.close();
    }
  });

  it('logs one JSON line per request with its id and route, and no query string', async () => {
    const { token } = await tenantWithToken(app, ['system/*.read']);
    const res = await app.request.get('/fhir/Patient?family=Smithson&birthdate=1970-01-01').auth(token, { type: 'bearer' })
      .set('X-Request-Id', 'req-12345').expect(200);
    assert.equal(res.headers['x-request-id'], 'req-12345');
    const line = app.logs.find((entry) => entry.reqId === 'req-12345');
    assert.ok(line, 'a log line with the request id');
    assert.equal(line.route, '/fhir/:type');
    assert.equal(line.status, 200);
    assert.doesNotMatch(JSON.stringify(app.logs), /Smithson|1970-01-01/);
  });

  it('/healthz answers without a token', async () => {
    const res = await app.request.get('/healthz').expect(200);
    assert.equal(res.body.status, 'ok');
  });

  it('an unknown URL is a 404 OperationOutcome', async () => {
    const res = await app.request.get('/nowhere').expect(404);
    assert.equal(res.body.resourceType, 'OperationOutcome');
  });
});
