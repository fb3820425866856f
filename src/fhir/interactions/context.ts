// What an interaction handler receives: the request, its caller, and the FHIR services.
import type { Request } from 'express';
import type { AuditLog } from '../../audit/index.ts';
import type { Database, Transaction } from '../../db/index.ts';
import type { Caller } from '../../http/context.ts';
import type { Logger } from '../../observability/logger.ts';
import type { FhirResult } from '../http.ts';
import type { ResourceStore } from '../resource-store.ts';
import type { MappingLookup } from '../search/compile.ts';
import type { ParamRegistry } from '../search/types.ts';
import type { WriteScope } from '../writes.ts';

export interface FhirServices {
  db: Database;
  store: ResourceStore;
  audit: AuditLog;
  lookup: MappingLookup;
  registry: ParamRegistry;
  logger: Logger;
  /** External base URL of the FHIR endpoint, e.g. https://host/fhir. */
  baseUrl: string;
}

export interface FhirRequest {
  req: Request;
  caller: Caller;
  services: FhirServices;
  params: { type?: string; id?: string; vid?: string };
  /**
   * The write operations (writes.ts) bound to `trx` and this caller. Their audit events carry
   * this request's interaction and type, or those given (bundle entries).
   */
  writeScope(trx: Transaction, entry?: { interaction: string; resourceType: string }): WriteScope;
}

export type InteractionHandler = (request: FhirRequest) => Promise<FhirResult>;
