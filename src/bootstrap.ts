// First start: a default tenant and an admin client (every scope plus `admin`), with their
// credentials written to DATA_DIR/bootstrap-credentials.json (mode 0600). BOOTSTRAP_CLIENT_ID
// and BOOTSTRAP_CLIENT_SECRET fix the credentials for deployments; they are applied on every
// start, so changing the secret there rotates it.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { AuditLog } from './audit/index.ts';
import { AdminService, type AuditActor } from './admin/service.ts';
import type { ApiClient } from './auth/clients.ts';
import { hashSecret } from './auth/secrets.ts';
import type { Config } from './config/index.ts';
import type { Database } from './db/index.ts';

export const BOOTSTRAP_SCOPES = ['system/*.*', 'admin'];
const SYSTEM: AuditActor = { actorType: 'SYSTEM' };

export interface BootstrapCredentials {
  tenant_id: string;
  client_id: string;
  client_secret: string;
  token_url: string;
  fhir_base_url: string;
  dicomweb_base_url: string;
}

export function credentialsPath(config: Config): string {
  return path.join(config.dataDir, 'bootstrap-credentials.json');
}

/** Returns the credentials written now, or undefined when the platform was already set up. */
export async function bootstrap(config: Config, db: Database, audit: AuditLog): Promise<BootstrapCredentials | undefined> {
  const admin = new AdminService(db, audit);
  const fixedId = config.bootstrapClientId;
  const fixedSecret = config.bootstrapClientSecret;
  if ((fixedId === undefined) !== (fixedSecret === undefined)) {
    throw new Error('BOOTSTRAP_CLIENT_ID and BOOTSTRAP_CLIENT_SECRET must be set together');
  }

  // One transaction under an advisory lock: concurrent first starts make one tenant and client.
  const created = await db.platform(async (trx) => {
    await trx.raw('select pg_advisory_xact_lock(hashtext(?))', ['cusp.bootstrap']);
    const existingTenant = await trx('tenants').orderBy('created_at').first();
    if (fixedId && fixedSecret) {
      const existing = await trx<ApiClient>('api_clients').where({ client_id: fixedId }).first();
      if (existing) {
        await trx('api_clients').where({ id: existing.id }).update({ client_secret_hash: await hashSecret(fixedSecret), status: 'ACTIVE' });
        return undefined;
      }
    } else if (existingTenant) {
      return undefined;
    }
    const tenant = existingTenant ?? await admin.createTenant({ name: 'Default tenant', type: 'OTHER' }, SYSTEM, trx);
    const { client, clientSecret } = await admin.createClient({
      tenant_id: tenant.id, name: 'Bootstrap administrator', scopes: BOOTSTRAP_SCOPES,
      client_id: fixedId, client_secret: fixedSecret,
    }, SYSTEM, trx);
    return { tenant, client, clientSecret: clientSecret! };
  });
  if (!created) return undefined;
  const { tenant, client, clientSecret } = created;

  const credentials: BootstrapCredentials = {
    tenant_id: tenant.id,
    client_id: client.client_id,
    client_secret: clientSecret,
    token_url: `${config.publicBaseUrl}/auth/token`,
    fhir_base_url: `${config.publicBaseUrl}/fhir`,
    dicomweb_base_url: `${config.publicBaseUrl}/dicomweb`,
  };
  await fs.mkdir(config.dataDir, { recursive: true });
  const file = credentialsPath(config);
  await fs.writeFile(file, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600 });
  await fs.chmod(file, 0o600);
  return credentials;
}
