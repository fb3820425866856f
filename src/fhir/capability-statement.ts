// GET /fhir/metadata — the CapabilityStatement (https://hl7.org/fhir/R4/capabilitystatement.html),
// generated from what the server actually serves.
export interface CapabilityOptions {
  baseUrl: string;
  version: string;
  /** One entry per served resource type, added as mappings are registered. */
  resources: object[];
}

export function capabilityStatement({ baseUrl, version, resources }: CapabilityOptions) {
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: new Date().toISOString(),
    kind: 'instance',
    software: { name: 'Cusp', version },
    implementation: { description: 'Cusp FHIR R4 server for dental organisations', url: `${baseUrl}/fhir` },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json'],
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
      resource: resources,
    }],
  };
}
