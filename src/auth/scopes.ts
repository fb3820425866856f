// SMART scopes for backend services, in v1 (system/Patient.read) and v2 (system/Patient.rs)
// syntax — https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html
// Only the `system/` context applies to client-credentials clients. v2 granular scopes with
// query parameters (system/Observation.rs?category=...) are not supported and grant nothing.

export type Permission = 'c' | 'r' | 'u' | 'd' | 's';
export type Interaction = 'create' | 'read' | 'update' | 'delete' | 'search';

export const ADMIN_SCOPE = 'admin';

const PERMISSION_OF: Record<Interaction, Permission> = { create: 'c', read: 'r', update: 'u', delete: 'd', search: 's' };
const V1_PERMISSIONS: Record<string, Permission[]> = { read: ['r', 's'], write: ['c', 'u', 'd'], '*': ['c', 'r', 'u', 'd', 's'] };

export interface ResourceScope {
  resourceType: string; // a FHIR type, or '*'
  permissions: Set<Permission>;
}

const SCOPE = /^system\/(\*|[A-Z][A-Za-z]+)\.(read|write|\*|c?r?u?d?s?)$/;

/** Parses one resource scope; undefined for scopes that grant no resource access. */
export function parseResourceScope(scope: string): ResourceScope | undefined {
  const match = SCOPE.exec(scope);
  if (!match || match[2] === '') return undefined;
  const [, resourceType, access] = match as unknown as [string, string, string];
  const permissions = V1_PERMISSIONS[access] ?? (access.split('') as Permission[]);
  return { resourceType, permissions: new Set(permissions) };
}

export function isKnownScope(scope: string): boolean {
  return scope === ADMIN_SCOPE || parseResourceScope(scope) !== undefined;
}

function covers(granted: ResourceScope, wanted: ResourceScope): boolean {
  if (granted.resourceType !== '*' && granted.resourceType !== wanted.resourceType) return false;
  for (const permission of wanted.permissions) if (!granted.permissions.has(permission)) return false;
  return true;
}

/** The requested scopes that the client's registered scopes allow (SMART down-scoping). */
export function grantableScopes(requested: string[], registered: string[]): string[] {
  const registeredResources = registered.map(parseResourceScope).filter((s): s is ResourceScope => s !== undefined);
  return requested.filter((scope) => {
    if (scope === ADMIN_SCOPE) return registered.includes(ADMIN_SCOPE);
    const wanted = parseResourceScope(scope);
    return wanted !== undefined && registeredResources.some((granted) => covers(granted, wanted));
  });
}

/** A compiled set of granted scopes, checked on every request. */
export class ScopeSet {
  private readonly resources: ResourceScope[];
  readonly admin: boolean;

  constructor(readonly scopes: string[]) {
    this.resources = scopes.map(parseResourceScope).filter((s): s is ResourceScope => s !== undefined);
    this.admin = scopes.includes(ADMIN_SCOPE);
  }

  allows(resourceType: string, interaction: Interaction): boolean {
    const permission = PERMISSION_OF[interaction];
    return this.resources.some((scope) =>
      (scope.resourceType === '*' || scope.resourceType === resourceType) && scope.permissions.has(permission));
  }
}
