// Cusp as the bench measures it: `npm start`'s entry point in a child process on the bench
// database, with a client whose credentials the bench sets and a token from /auth/token.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { freePort, startChild } from './dicomweb-child.ts';
import type { DicomwebTarget } from './dicomweb-http.ts';

const REPOSITORY = path.join(import.meta.dirname, '..');

export interface CuspOptions {
  databaseUrl: string;
  workDir: string;
  /** Write a V8 CPU profile of the server here (node --cpu-prof) when it stops. */
  cpuProfileDir?: string;
}

export async function startCusp(options: CuspOptions): Promise<DicomwebTarget> {
  const port = await freePort();
  const dataDir = path.join(options.workDir, 'cusp-data');
  fs.mkdirSync(dataDir, { recursive: true });
  const clientId = 'bench-dicomweb';
  const clientSecret = randomBytes(24).toString('hex');
  const child = await startChild({
    name: 'cusp',
    command: process.execPath,
    args: [...(options.cpuProfileDir ? ['--cpu-prof', '--cpu-prof-dir', options.cpuProfileDir] : []), '--import', 'tsx', 'src/main.ts'],
    cwd: REPOSITORY,
    env: {
      ...process.env,
      DATABASE_URL: options.databaseUrl, HOST: '127.0.0.1', PORT: String(port), PUBLIC_BASE_URL: `http://127.0.0.1:${port}`,
      DATA_DIR: dataDir, LOG_LEVEL: 'warn', ACCESS_TOKEN_TTL_SECONDS: '7200', DEFAULT_RATE_LIMIT_PER_MINUTE: '1000000000',
      BOOTSTRAP_CLIENT_ID: clientId, BOOTSTRAP_CLIENT_SECRET: clientSecret,
    },
    logFile: path.join(options.workDir, 'cusp.log'),
    port,
    readyPath: '/healthz',
  });
  const token = await fetchToken(port, clientId, clientSecret);
  return {
    server: 'cusp', port, root: '/dicomweb', headers: { authorization: `Bearer ${token}` },
    afterStore: () => analyze(options.databaseUrl),
    stop: () => child.stop(),
  };
}

/**
 * Autovacuum would gather the statistics of the new rows within a minute; the bench does not wait
 * for it. Without them, a fresh database's statements are planned as if its tables were empty, and
 * the plans that connections keep are scans of the tenant's rows until the statistics come.
 */
async function analyze(databaseUrl: string): Promise<void> {
  const client = new pg.Client(databaseUrl);
  await client.connect();
  try {
    await client.query('analyze');
  } finally {
    await client.end();
  }
}

async function fetchToken(port: number, clientId: string, clientSecret: string): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}/auth/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'system/ImagingStudy.*' }),
  });
  if (!response.ok) throw new Error(`cusp token endpoint answered ${response.status}: ${await response.text()}`);
  return ((await response.json()) as { access_token: string }).access_token;
}
