// API clients (api_clients): lookup for the token endpoint, and a short-lived per-process
// cache of what every request needs (status, allow-list, rate limit) so that authorising a
// request costs no database round trip.
import type net from 'node:net';
import type { Database } from '../db/index.ts';
import { compileAllowlist } from './ip-allowlist.ts';

export interface ApiClient {
  id: string;
  tenant_id: string;
  client_id: string;
  name: string;
  description: string | null;
  client_secret_hash: string | null;
  scopes: string[];
  rate_limit_per_minute: number | null;
  ip_allowlist: string[] | null;
  jwks: { keys: object[] } | null;
  jwks_uri: string | null;
  status: 'ACTIVE' | 'DISABLED';
  created_at: Date;
}

export interface ClientPolicy {
  client: ApiClient;
  allowlist?: net.BlockList;
}

const CACHE_TTL_MS = 10_000;

export function policyOf(client: ApiClient): ClientPolicy {
  return { client, allowlist: client.ip_allowlist?.length ? compileAllowlist(client.ip_allowlist) : undefined };
}

export class ClientRegistry {
  private readonly cache = new Map<string, { policy: Promise<ClientPolicy | undefined>; expires: number }>();

  constructor(private readonly db: Database) {}

  findByClientId(clientId: string): Promise<ApiClient | undefined> {
    return this.db.platform((trx) => trx<ApiClient>('api_clients').where({ client_id: clientId }).first());
  }

  /** The client's current policy by api_clients.id, from a cache refreshed every few seconds. */
  policy(id: string): Promise<ClientPolicy | undefined> {
    const now = Date.now();
    const hit = this.cache.get(id);
    if (hit && hit.expires > now) return hit.policy;
    const policy = this.db.platform((trx) => trx<ApiClient>('api_clients').where({ id }).first())
      .then((client) => (client ? policyOf(client) : undefined));
    this.cache.set(id, { policy, expires: now + CACHE_TTL_MS });
    policy.catch(() => this.cache.delete(id));
    return policy;
  }

  invalidate(id: string): void {
    this.cache.delete(id);
  }
}
