// What an interaction handler receives: the request, its caller, and the FHIR services.
import type { Request } from 'express';
import type { AuditLog } from '../../audit/index.ts';
import type { Database, Transaction } from '../../db/index.ts';
import type { Caller } from '../../http/context.ts';
import type { FhirResult } from '../http.ts';
import type { ResourceStore } from '../resource-store.ts';

export interface FhirServices {
  db: Database;
  store: ResourceStore;
  audit: AuditLog;
  /** External base URL of the FHIR endpoint, e.g. https://host/fhir. */
  baseUrl: string;
}

export interface FhirRequest {
  req: Request;
  caller: Caller;
  services: FhirServices;
  params: { type?: string; id?: string; vid?: string };
  /** Records this request's audit event inside a write transaction, so it commits with the write. */
  auditWrite(trx: Transaction, resourceId: string): Promise<void>;
}

export type InteractionHandler = (request: FhirRequest) => Promise<FhirResult>;
