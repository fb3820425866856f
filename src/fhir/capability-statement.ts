// GET /fhir/metadata — the CapabilityStatement (https://hl7.org/fhir/R4/capabilitystatement.html),
// generated from the routes actually mounted and the mappings actually registered.
import { isReadOnly, type AnyMapping } from './mapping.ts';
import { FHIR_ROUTES, isSystemLevel } from './routes.ts';
import { declarationsOf, searchParameterUrl } from './search/compile.ts';

export interface CapabilityOptions {
  baseUrl: string;
  version: string;
  mappings: Iterable<AnyMapping>;
}

// Search parameters are published only once search is routed: nothing is listed that does not work.
const searchable = FHIR_ROUTES.some((r) => r.interaction === 'search-type');

function resourceCapability(mapping: AnyMapping) {
  // A type written only by other services (mapping.ts, isReadOnly) lists the interactions that do not write.
  const readOnly = isReadOnly(mapping);
  const routes = FHIR_ROUTES.filter((r) => !isSystemLevel(r) && !(readOnly && r.writes));
  return {
    type: mapping.type,
    interaction: [...new Set(routes.map((r) => r.interaction))].map((code) => ({ code })),
    versioning: 'versioned',
    readHistory: true,
    updateCreate: !readOnly,
    conditionalCreate: false,
    conditionalRead: 'full-support', // If-Modified-Since and If-None-Match (interactions/read.ts)
    conditionalUpdate: false,
    conditionalDelete: 'not-supported',
    ...Object.assign({}, ...routes.map((r) => r.capability ?? {})),
    searchParam: !searchable ? [] : Object.entries(declarationsOf(mapping)).map(([name, declaration]) => ({
      name,
      definition: searchParameterUrl(mapping.type, name),
      type: declaration.type,
      documentation: declaration.description,
    })),
  };
}

export function capabilityStatement({ baseUrl, version, mappings }: CapabilityOptions) {
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: new Date().toISOString(),
    kind: 'instance',
    software: { name: 'Cusp', version },
    implementation: { description: 'Cusp FHIR R4 server for dental organisations', url: `${baseUrl}/fhir` },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    rest: [{
      mode: 'server',
      security: {
        cors: true,
        service: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR' }] }],
        description: 'SMART Backend Services (client credentials with private_key_jwt or client secret); '
          + 'scopes in SMART v1 or v2 syntax under the system/ context.',
        extension: [{
          url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris',
          extension: [{ url: 'token', valueUri: `${baseUrl}/auth/token` }],
        }],
      },
      resource: [...mappings].map(resourceCapability),
      interaction: FHIR_ROUTES.filter(isSystemLevel).flatMap((r) => [r.interaction, ...(r.alsoImplements ?? [])]).map((code) => ({ code })),
    }],
  };
}
