// Environment → typed configuration. Every variable is listed in README.md ("Configuration").
import path from 'node:path';

export interface S3Config {
  bucket: string;
  endpoint?: string;
  region: string;
  forcePathStyle: boolean;
}

export interface Config {
  port: number;
  host: string;
  /** External base URL (scheme, host, optional path prefix) used in links and bootstrap credentials. */
  publicBaseUrl: string;
  dataDir: string;
  /** Real PostgreSQL; when absent an embedded PGlite database in dataDir is served instead. */
  databaseUrl?: string;
  databasePoolSize: number;
  blobStore: 'fs' | 's3';
  s3?: S3Config;
  /** Bytes of recently read blobs kept in memory (0: none). */
  blobCacheBytes: number;
  accessTokenTtlSeconds: number;
  /** How often each process merges its rate-limit counts with the shared ones in PostgreSQL. */
  rateLimitSyncMs: number;
  defaultRateLimitPerMinute: number;
  bootstrapClientId?: string;
  bootstrapClientSecret?: string;
  /** Honour X-Forwarded-For from this many proxy hops (express "trust proxy"). */
  trustProxy: number | boolean;
  logLevel: string;
  /** When set, GET /metrics requires `Authorization: Bearer <this value>`. */
  metricsToken?: string;
  dimsePort?: number;
  /** STOW-RS refuses (413) a body part larger than this. */
  dicomMaxInstanceBytes: number;
}

type Env = Record<string, string | undefined>;

function integer(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a non-negative integer, got "${raw}"`);
  return value;
}

function flag(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (/^(1|true|yes)$/i.test(raw)) return true;
  if (/^(0|false|no)$/i.test(raw)) return false;
  throw new Error(`${name} must be true or false, got "${raw}"`);
}

export function loadConfig(env: Env = process.env): Config {
  const port = integer(env, 'PORT', 8080);
  const host = env.HOST || '0.0.0.0';
  const blobStore = (env.BLOB_STORE || 'fs') as Config['blobStore'];
  if (blobStore !== 'fs' && blobStore !== 's3') throw new Error(`BLOB_STORE must be "fs" or "s3", got "${blobStore}"`);
  if (blobStore === 's3' && !env.S3_BUCKET) throw new Error('BLOB_STORE=s3 needs S3_BUCKET');
  const trustProxyRaw = env.TRUST_PROXY;
  const trustProxy = trustProxyRaw === undefined || trustProxyRaw === '' ? false
    : /^\d+$/.test(trustProxyRaw) ? Number(trustProxyRaw) : flag(env, 'TRUST_PROXY', false);

  return {
    port,
    host,
    publicBaseUrl: (env.PUBLIC_BASE_URL || `http://localhost:${port}`).replace(/\/+$/, ''),
    dataDir: path.resolve(env.DATA_DIR || './data'),
    databaseUrl: env.DATABASE_URL || undefined,
    databasePoolSize: integer(env, 'DATABASE_POOL_SIZE', 10),
    blobStore,
    s3: env.S3_BUCKET ? {
      bucket: env.S3_BUCKET,
      endpoint: env.S3_ENDPOINT || undefined,
      region: env.S3_REGION || env.AWS_REGION || 'us-east-1',
      forcePathStyle: flag(env, 'S3_FORCE_PATH_STYLE', false),
    } : undefined,
    blobCacheBytes: integer(env, 'BLOB_CACHE_MB', 128) * 1024 * 1024,
    accessTokenTtlSeconds: integer(env, 'ACCESS_TOKEN_TTL_SECONDS', 300),
    rateLimitSyncMs: integer(env, 'RATE_LIMIT_SYNC_MS', 1000),
    defaultRateLimitPerMinute: integer(env, 'DEFAULT_RATE_LIMIT_PER_MINUTE', 6000),
    bootstrapClientId: env.BOOTSTRAP_CLIENT_ID || undefined,
    bootstrapClientSecret: env.BOOTSTRAP_CLIENT_SECRET || undefined,
    trustProxy,
    logLevel: env.LOG_LEVEL || 'info',
    metricsToken: env.METRICS_TOKEN || undefined,
    dimsePort: env.DIMSE_PORT ? integer(env, 'DIMSE_PORT', 0) : undefined,
    dicomMaxInstanceBytes: integer(env, 'DICOM_MAX_INSTANCE_BYTES', 4 * 1024 ** 3),
  };
}
