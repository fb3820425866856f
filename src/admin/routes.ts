// Admin API (/admin), for callers holding the `admin` scope: tenants, API clients, DICOM nodes.
import express, { Router, type Request } from 'express';
import { auditSource } from '../http/context.ts';
import type { ClientRegistry } from '../auth/clients.ts';
import { AdminService, publicClient } from './service.ts';

const actorOf = (req: Request) => auditSource(req);

export function adminRoutes(admin: AdminService, clients: ClientRegistry): Router {
  const router = Router();
  router.use(express.json({ limit: '256kb' }));

  router.post('/tenants', async (req, res) => {
    res.status(201).json(await admin.createTenant(req.body ?? {}, actorOf(req)));
  });
  router.get('/tenants', async (_req, res) => {
    res.json(await admin.listTenants());
  });

  router.post('/clients', async (req, res) => {
    const { client, clientSecret } = await admin.createClient({ ...(req.body ?? {}), client_id: undefined, client_secret: undefined }, actorOf(req));
    res.status(201).json({ ...publicClient(client), client_secret: clientSecret });
  });
  router.get('/clients', async (req, res) => {
    const tenantId = typeof req.query.tenant_id === 'string' ? req.query.tenant_id : undefined;
    res.json((await admin.listClients(tenantId)).map(publicClient));
  });
  router.delete('/clients/:clientId', async (req, res) => {
    const client = await admin.disableClient(req.params.clientId!, actorOf(req));
    clients.invalidate(client.id);
    res.json(publicClient(client));
  });

  router.post('/dicom-nodes', async (req, res) => {
    res.status(201).json(await admin.createDicomNode(req.body ?? {}, actorOf(req)));
  });
  return router;
}
