// Tenant and client administration, shared by the admin API and the `cusp` command.
// Every change is audited (CONFIG_CHANGED) in its own transaction.
import type { AuditEvent, AuditLog } from '../audit/index.ts';
import type { ApiClient } from '../auth/clients.ts';
import { InvalidAllowlistEntry, compileAllowlist } from '../auth/ip-allowlist.ts';
import { isKnownScope } from '../auth/scopes.ts';
import { generateClientId, generateSecret, hashSecret } from '../auth/secrets.ts';
import { isUuid, type Database, type Transaction } from '../db/index.ts';
import { badRequest, notFound } from '../http/errors.ts';

export type AuditActor = Omit<AuditEvent, 'eventType' | 'outcome' | 'resourceType' | 'resourceId' | 'metadata'>;

export const TENANT_TYPES = ['SOLO_PRACTICE', 'GROUP_PRACTICE', 'DSO', 'ACADEMIC', 'PAYER', 'REGULATOR', 'AI_VENDOR', 'OTHER'] as const;

export interface NewTenant {
  name: string;
  type?: string;
  parent_tenant_id?: string;
  primary_region?: string;
}

export interface NewClient {
  tenant_id: string;
  name: string;
  description?: string;
  scopes: string[];
  rate_limit_per_minute?: number;
  ip_allowlist?: string[];
  jwks?: { keys: object[] };
  jwks_uri?: string;
  /** Fixes the credentials (bootstrap); otherwise both are generated. */
  client_id?: string;
  client_secret?: string;
}

/** What the admin API shows of a client: never the secret hash. */
export function publicClient(client: ApiClient) {
  const { client_secret_hash, ...rest } = client;
  return { ...rest, has_secret: client_secret_hash !== null };
}

const nonEmptyString = (value: unknown): value is string => typeof value === 'string' && value.trim() !== '';

function validateTenant(input: NewTenant): void {
  if (!nonEmptyString(input.name)) throw badRequest('name is required', 'name');
  if (input.type !== undefined && !(TENANT_TYPES as readonly string[]).includes(input.type)) {
    throw badRequest(`type must be one of ${TENANT_TYPES.join(', ')}`, 'type');
  }
  if (input.parent_tenant_id !== undefined && !isUuid(input.parent_tenant_id)) throw badRequest('parent_tenant_id must be a UUID', 'parent_tenant_id');
}

function validateClient(input: NewClient): void {
  if (!isUuid(input.tenant_id)) throw badRequest('tenant_id must be a UUID', 'tenant_id');
  if (!nonEmptyString(input.name)) throw badRequest('name is required', 'name');
  if (!Array.isArray(input.scopes) || input.scopes.length === 0 || !input.scopes.every((s) => typeof s === 'string')) {
    throw badRequest('scopes must be a non-empty array of strings', 'scopes');
  }
  const unknown = input.scopes.filter((scope) => !isKnownScope(scope));
  if (unknown.length) throw badRequest(`unsupported scopes: ${unknown.join(' ')}`, 'scopes');
  const limit = input.rate_limit_per_minute;
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) throw badRequest('rate_limit_per_minute must be a positive integer', 'rate_limit_per_minute');
  if (input.ip_allowlist !== undefined) {
    if (!Array.isArray(input.ip_allowlist) || !input.ip_allowlist.every((e) => typeof e === 'string')) {
      throw badRequest('ip_allowlist must be an array of addresses or CIDR ranges', 'ip_allowlist');
    }
    try {
      compileAllowlist(input.ip_allowlist);
    } catch (error) {
      if (error instanceof InvalidAllowlistEntry) throw badRequest(error.message, 'ip_allowlist');
      throw error;
    }
  }
  if (input.jwks !== undefined && (typeof input.jwks !== 'object' || !Array.isArray(input.jwks?.keys))) {
    throw badRequest('jwks must be a JSON Web Key Set ({"keys": [...]})', 'jwks');
  }
  if (input.jwks_uri !== undefined && !/^https?:\/\/\S+$/.test(String(input.jwks_uri))) throw badRequest('jwks_uri must be an http(s) URL', 'jwks_uri');
  if (input.client_id !== undefined && !/^[\x21-\x7e]{1,128}$/.test(input.client_id)) throw badRequest('client_id must be 1-128 visible ASCII characters', 'client_id');
}

export class AdminService {
  constructor(private readonly db: Database, private readonly audit: AuditLog) {}

  /** Runs in `within` when given (so callers can combine steps atomically), else in its own transaction. */
  private run<T>(within: Transaction | undefined, work: (trx: Transaction) => Promise<T>): Promise<T> {
    return within ? work(within) : this.db.platform(work);
  }

  async createTenant(input: NewTenant, actor: AuditActor, within?: Transaction) {
    validateTenant(input);
    return this.run(within, async (trx) => {
      if (input.parent_tenant_id && !(await trx('tenants').where({ id: input.parent_tenant_id }).first())) {
        throw badRequest('parent_tenant_id names no tenant', 'parent_tenant_id');
      }
      const [tenant] = await trx('tenants').insert({
        name: input.name.trim(), type: input.type ?? 'OTHER',
        parent_tenant_id: input.parent_tenant_id ?? null, primary_region: input.primary_region ?? null,
      }).returning('*');
      await this.audit.recordInTransaction(trx, {
        ...actor, eventType: 'CONFIG_CHANGED', resourceType: 'TENANT', resourceId: tenant.id, outcome: 'SUCCESS',
        metadata: { action: 'tenant.create' },
      });
      return tenant;
    });
  }

  listTenants() {
    return this.db.platform((trx) => trx('tenants').select('*').orderBy('created_at'));
  }

  /** Creates a client; the plain secret is returned here once and never stored. */
  async createClient(input: NewClient, actor: AuditActor, within?: Transaction): Promise<{ client: ApiClient; clientSecret: string | null }> {
    validateClient(input);
    const asymmetric = input.jwks !== undefined || input.jwks_uri !== undefined;
    const clientSecret = input.client_secret ?? (asymmetric ? null : generateSecret());
    const secretHash = clientSecret === null ? null : await hashSecret(clientSecret);
    const client = await this.run(within, async (trx) => {
      if (!(await trx('tenants').where({ id: input.tenant_id }).first())) throw notFound(`tenant ${input.tenant_id} does not exist`);
      const inserted: ApiClient[] = await trx('api_clients').insert({
        tenant_id: input.tenant_id,
        client_id: input.client_id ?? generateClientId(),
        name: input.name.trim(),
        description: input.description ?? null,
        client_secret_hash: secretHash,
        scopes: JSON.stringify(input.scopes),
        rate_limit_per_minute: input.rate_limit_per_minute ?? null,
        ip_allowlist: input.ip_allowlist ? JSON.stringify(input.ip_allowlist) : null,
        jwks: input.jwks ? JSON.stringify(input.jwks) : null,
        jwks_uri: input.jwks_uri ?? null,
      }).onConflict('client_id').ignore().returning('*');
      const created = inserted[0];
      if (!created) throw badRequest(`client_id ${input.client_id} is already taken`, 'client_id');
      await this.audit.recordInTransaction(trx, {
        ...actor, eventType: 'CONFIG_CHANGED', resourceType: 'API_CLIENT', resourceId: created.id, outcome: 'SUCCESS',
        metadata: { action: 'client.create', client_id: created.client_id, tenant_id: created.tenant_id, scopes: input.scopes },
      });
      return created;
    });
    return { client, clientSecret };
  }

  listClients(tenantId?: string) {
    if (tenantId !== undefined && !isUuid(tenantId)) throw badRequest('tenant_id must be a UUID', 'tenant_id');
    return this.db.platform((trx) => {
      const query = trx<ApiClient>('api_clients').select('*').orderBy('created_at');
      return tenantId ? query.where({ tenant_id: tenantId }) : query;
    });
  }

  async disableClient(clientId: string, actor: AuditActor): Promise<ApiClient> {
    return this.db.platform(async (trx) => {
      const [client] = await trx<ApiClient>('api_clients').where({ client_id: clientId }).update({ status: 'DISABLED' }).returning('*');
      if (!client) throw notFound(`client ${clientId} does not exist`);
      await this.audit.recordInTransaction(trx, {
        ...actor, eventType: 'CONFIG_CHANGED', resourceType: 'API_CLIENT', resourceId: client.id, outcome: 'SUCCESS',
        metadata: { action: 'client.disable', client_id: clientId },
      });
      return client;
    });
  }

  async createDicomNode(input: { tenant_id: string; ae_title: string; host?: string; port?: number; description?: string }, actor: AuditActor) {
    if (!isUuid(input.tenant_id)) throw badRequest('tenant_id must be a UUID', 'tenant_id');
    // PS3.5 §6.2: an AE title is 1-16 characters of the default repertoire, no backslash, not all spaces.
    if (typeof input.ae_title !== 'string' || !/^[\x20-\x5b\x5d-\x7e]{1,16}$/.test(input.ae_title) || input.ae_title.trim() === '') {
      throw badRequest('ae_title must be 1-16 printable ASCII characters (no backslash)', 'ae_title');
    }
    if (input.port !== undefined && (!Number.isInteger(input.port) || input.port < 1 || input.port > 65535)) throw badRequest('port must be 1-65535', 'port');
    if (input.host !== undefined && !nonEmptyString(input.host)) throw badRequest('host must be a host name or address', 'host');
    return this.db.platform(async (trx) => {
      if (!(await trx('tenants').where({ id: input.tenant_id }).first())) throw notFound(`tenant ${input.tenant_id} does not exist`);
      const [node] = await trx('dicom_nodes').insert({
        tenant_id: input.tenant_id, ae_title: input.ae_title.trim(), host: input.host ?? null,
        port: input.port ?? null, description: input.description ?? null,
      }).onConflict(['tenant_id', 'ae_title']).ignore().returning('*');
      if (!node) throw badRequest(`AE title ${input.ae_title} is already registered for this tenant`, 'ae_title');
      await this.audit.recordInTransaction(trx, {
        ...actor, eventType: 'CONFIG_CHANGED', resourceType: 'DICOM_NODE', resourceId: node.id, outcome: 'SUCCESS',
        metadata: { action: 'dicom-node.create', tenant_id: input.tenant_id, ae_title: node.ae_title },
      });
      return node;
    });
  }
}
