// fhir4.Endpoint (https://hl7.org/fhir/R4/endpoint.html): the tenant's DICOMweb service, which every
// ImagingStudy names. One per tenant, with the tenant's id, managed by the tenant's Organization;
// read-only (it exists as long as the tenant does: migrations/021).
//
// R4 gives an Endpoint one connectionType. The DICOMweb base URL serves WADO-RS, QIDO-RS and
// STOW-RS alike; the Endpoint is typed dicom-wado-rs, the service an ImagingStudy's endpoint is
// for (retrieving its instances), and its address is that base URL.
import { compact, defineMapping, referenceTo } from '../mapping.ts';
import { referenceParam, stringParam, tokenParam } from '../search/declarations.ts';

export const ENDPOINT_CONNECTION_TYPE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/endpoint-connection-type';
export const ENDPOINT_STATUS_SYSTEM = 'http://hl7.org/fhir/endpoint-status';
/** Where the DICOMweb service lies under the public base URL (src/app.ts mounts it there). */
export const DICOMWEB_PATH = '/dicomweb';

export const endpointMapping = defineMapping<fhir4.Endpoint>({
  type: 'Endpoint',
  table: 'fhir_endpoints',
  children: [],
  softDelete: false,
  provenance: false,
  sources: [{
    table: 'tenants', children: [], softDelete: false, provenance: false,
    description: 'the DICOMweb service of this tenant',
    accepts: () => false,
    readOnly: 'it is the server\'s own service, not written through FHIR',
  }],

  toRows() {
    throw new Error('Endpoint is not written through FHIR'); // unreachable: sourceFor refuses first
  },

  toResource({ row }, server) {
    return compact({
      resourceType: 'Endpoint' as const,
      status: row.status as fhir4.Endpoint['status'],
      connectionType: { system: ENDPOINT_CONNECTION_TYPE_SYSTEM, code: row.connection_type as string },
      name: row.name as string,
      managingOrganization: referenceTo('Organization', row.managing_organization_id),
      // The R4 payload type code system has no code for DICOM (only "any" and "none").
      payloadType: [{ text: 'DICOM' }],
      payloadMimeType: ['application/dicom', 'application/dicom+json'],
      address: `${server.publicBaseUrl}${DICOMWEB_PATH}`,
    });
  },

  search: {
    status: tokenParam({ expression: 'Endpoint.status', description: 'The current status of the Endpoint' },
      { code: 'status', system: { fixed: ENDPOINT_STATUS_SYSTEM } }),
    'connection-type': tokenParam({ expression: 'Endpoint.connectionType', description: 'Protocol/Profile/Standard to be used with this endpoint connection' },
      { code: 'connection_type', system: { fixed: ENDPOINT_CONNECTION_TYPE_SYSTEM } }),
    name: stringParam({ expression: 'Endpoint.name', description: 'A name that this endpoint can be identified by' }, 'name'),
    organization: referenceParam({ expression: 'Endpoint.managingOrganization', description: 'The organization that is managing the endpoint' },
      'managing_organization_id', ['Organization']),
  },
});
