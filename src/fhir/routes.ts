// The FHIR RESTful interactions Cusp serves, declared once: each route with the
// CapabilityStatement interaction it implements and the SMART permission it needs. The router
// mounts exactly these, and /metadata is generated from them.
import type { Interaction as Permission } from '../auth/scopes.ts';
import { batchOrTransaction } from './interactions/batch-transaction.ts';
import { create } from './interactions/create.ts';
import type { InteractionHandler } from './interactions/context.ts';
import { remove, removeConditionally } from './interactions/delete.ts';
import { patch } from './interactions/patch.ts';
import { historyInstance, historySystem, historyType } from './interactions/history.ts';
import { read } from './interactions/read.ts';
import { searchType } from './interactions/search.ts';
import { update, updateConditionally } from './interactions/update.ts';
import { vread } from './interactions/vread.ts';

/** CapabilityStatement.rest.resource.interaction.code and rest.interaction.code values. */
export type CapabilityInteraction = 'read' | 'vread' | 'update' | 'patch' | 'delete' | 'history-instance' | 'history-type'
  | 'create' | 'search-type' | 'transaction' | 'batch' | 'search-system' | 'history-system';

export interface FhirRoute {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  handler: InteractionHandler;
  interaction: CapabilityInteraction;
  /** Scope permission on the route's resource type; system-level routes check per type themselves. */
  permission: Permission;
  /** Writes audit inside their transaction; the router audits the others. */
  writes: boolean;
  /** What the route adds to CapabilityStatement.rest.resource beyond its interaction. */
  capability?: { conditionalCreate?: boolean; conditionalUpdate?: boolean; conditionalDelete?: 'single' };
  /** Further interactions the same route implements (POST [base]: transaction and batch). */
  alsoImplements?: CapabilityInteraction[];
}

const route = (method: FhirRoute['method'], path: string, handler: InteractionHandler, interaction: CapabilityInteraction,
  permission: Permission, writes = false, capability?: FhirRoute['capability']): FhirRoute =>
  ({ method, path, handler, interaction, permission, writes, capability });

// Order matters: literal segments (_history) before the parameters they would otherwise match.
export const FHIR_ROUTES: FhirRoute[] = [
  // Each entry of a bundle is authorised and audited on its own.
  { ...route('POST', '/', batchOrTransaction, 'transaction', 'read', true), alsoImplements: ['batch'] },
  route('GET', '/_history', historySystem, 'history-system', 'search'),
  route('GET', '/:type/_history', historyType, 'history-type', 'search'),
  route('GET', '/:type/:id/_history/:vid', vread, 'vread', 'read'),
  route('GET', '/:type/:id/_history', historyInstance, 'history-instance', 'read'),
  route('GET', '/:type/:id', read, 'read', 'read'),
  route('GET', '/:type', searchType, 'search-type', 'search'),
  route('POST', '/:type/_search', searchType, 'search-type', 'search'),
  route('POST', '/:type', create, 'create', 'create', true, { conditionalCreate: true }),
  route('PUT', '/:type/:id', update, 'update', 'update', true),
  route('PUT', '/:type', updateConditionally, 'update', 'update', true, { conditionalUpdate: true }),
  route('PATCH', '/:type/:id', patch, 'patch', 'update', true),
  route('DELETE', '/:type/:id', remove, 'delete', 'delete', true),
  route('DELETE', '/:type', removeConditionally, 'delete', 'delete', true, { conditionalDelete: 'single' }),
];

export const isSystemLevel = (route: FhirRoute) => !route.path.startsWith('/:type');
