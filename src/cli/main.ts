// `cusp` — administration from the shell: migrate, tenants, clients. Prints JSON on stdout.
import { parseArgs } from 'node:util';
import { AuditLog } from '../audit/index.ts';
import { AdminService, publicClient, type AuditActor } from '../admin/service.ts';
import { loadConfig } from '../config/index.ts';
import { openDatabase, resolveDatabaseUrl, runMigrations } from '../db/index.ts';
import { createBlobStore } from '../blob/index.ts';
import { sweepImaging, type SweepResult } from '../dicomweb/sweep.ts';
import { HttpError } from '../http/errors.ts';
import { createLogger } from '../observability/logger.ts';

const USAGE = `usage:
  cusp serve                                   start the server (same as npm start)
  cusp migrate                                 apply database migrations
  cusp tenant create --name NAME [--type TYPE] [--parent TENANT_ID]
  cusp tenant list
  cusp client create --tenant TENANT_ID --name NAME --scopes "system/*.read ..."
                     [--rate-limit N] [--ip-allowlist CIDR,...] [--jwks-uri URL]
  cusp client list [--tenant TENANT_ID]
  cusp client disable CLIENT_ID
  cusp sweep [--tenant TENANT_ID] [--older-than-minutes N]
                                               remove imaging leftovers of interrupted stores and
                                               deletions (objects still being stored after N
                                               minutes, default 1440, and blobs older than that
                                               which no object names)
The database is DATABASE_URL, or the embedded one in DATA_DIR (the server must not be running).`;

const CLI_ACTOR: AuditActor = { actorType: 'SYSTEM', userAgent: 'cusp-cli' };

const print = (value: unknown) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(2);
}

async function withAdmin<T>(work: (admin: AdminService) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const db = await openDatabase({ ...config, databasePoolSize: 2 });
  const audit = new AuditLog(db, createLogger('warn'));
  try {
    return await work(new AdminService(db, audit));
  } finally {
    await audit.drainAll();
    await db.close();
  }
}

async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      name: { type: 'string' }, type: { type: 'string' }, parent: { type: 'string' }, tenant: { type: 'string' },
      scopes: { type: 'string' }, 'rate-limit': { type: 'string' }, 'ip-allowlist': { type: 'string' },
      'jwks-uri': { type: 'string' }, 'older-than-minutes': { type: 'string' }, help: { type: 'boolean', short: 'h' },
    },
  });
  const command = positionals.slice(0, 2).join(' ');
  if (values.help || positionals.length === 0) return void process.stdout.write(`${USAGE}\n`);

  switch (['serve', 'migrate', 'sweep'].includes(positionals[0]!) ? positionals[0] : command) {
    case 'serve':
      await import('../main.ts');
      return;
    case 'migrate': {
      const { url, embedded } = await resolveDatabaseUrl(loadConfig());
      try {
        print({ applied: await runMigrations(url) });
      } finally {
        await embedded?.stop();
      }
      return;
    }
    case 'tenant create':
      if (!values.name) fail('--name is required');
      print(await withAdmin((admin) => admin.createTenant({ name: values.name!, type: values.type, parent_tenant_id: values.parent }, CLI_ACTOR)));
      return;
    case 'tenant list':
      print(await withAdmin((admin) => admin.listTenants()));
      return;
    case 'client create': {
      if (!values.tenant || !values.name || !values.scopes) fail('--tenant, --name and --scopes are required');
      const rateLimit = values['rate-limit'] === undefined ? undefined : Number(values['rate-limit']);
      const { client, clientSecret } = await withAdmin((admin) => admin.createClient({
        tenant_id: values.tenant!, name: values.name!, scopes: values.scopes!.split(/[\s,]+/).filter(Boolean),
        rate_limit_per_minute: rateLimit,
        ip_allowlist: values['ip-allowlist']?.split(',').map((e) => e.trim()).filter(Boolean),
        jwks_uri: values['jwks-uri'],
      }, CLI_ACTOR));
      print({ ...publicClient(client), client_secret: clientSecret });
      return;
    }
    case 'client list':
      print((await withAdmin((admin) => admin.listClients(values.tenant))).map(publicClient));
      return;
    case 'client disable': {
      const clientId = positionals[2];
      if (!clientId) fail('usage: cusp client disable CLIENT_ID');
      print(publicClient(await withAdmin((admin) => admin.disableClient(clientId, CLI_ACTOR))));
      return;
    }
    case 'sweep': {
      const olderThanMinutes = Number(values['older-than-minutes'] ?? 1440);
      if (!Number.isInteger(olderThanMinutes) || olderThanMinutes < 0) fail('--older-than-minutes is a whole number of minutes');
      const config = loadConfig();
      const db = await openDatabase({ ...config, databasePoolSize: 2 });
      try {
        const audit = new AuditLog(db, createLogger('warn'));
        const tenants = values.tenant ? [values.tenant] : (await new AdminService(db, audit).listTenants()).map((tenant) => tenant.id as string);
        const services = { db, blobs: createBlobStore(config), audit };
        const swept: Record<string, SweepResult> = {};
        for (const tenantId of tenants) swept[tenantId] = await sweepImaging(services, tenantId, olderThanMinutes, CLI_ACTOR);
        print(swept);
      } finally {
        await db.close();
      }
      return;
    }
    default:
      fail(`unknown command "${positionals.join(' ')}"\n${USAGE}`);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof HttpError) fail(JSON.stringify({ error: error.message, field: error.expression?.[0] }));
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
