// What the server knows about a request beyond HTTP: its id and, once authenticated, its caller.
import type { Request } from 'express';
import type { ScopeSet } from '../auth/scopes.ts';
import type { AuditEvent } from '../audit/index.ts';

export interface Caller {
  /** api_clients.id */
  clientRowId: string;
  /** OAuth client_id */
  clientId: string;
  tenantId: string;
  scopes: ScopeSet;
}

declare module 'express-serve-static-core' {
  interface Request {
    requestId: string;
    caller?: Caller;
  }
}

export function requireCaller(req: Request): Caller {
  if (!req.caller) throw new Error('route reached without authentication');
  return req.caller;
}

/** The audit fields that come from the request itself. */
export function auditSource(req: Request): Pick<AuditEvent, 'requestId' | 'ipAddress' | 'userAgent' | 'tenantId' | 'actorType' | 'actorId'> {
  return {
    requestId: req.requestId,
    ipAddress: req.ip,
    userAgent: req.get('user-agent'),
    tenantId: req.caller?.tenantId,
    actorType: 'API_CLIENT',
    actorId: req.caller?.clientRowId,
  };
}
