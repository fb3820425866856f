// fhir4.Organization (https://hl7.org/fhir/R4/organization.html) over two tables:
// - tenants: the caller's own organisation, its parent and its children (a DSO and its
//   practices). Read-only through FHIR: the admin API creates and changes tenants.
// - payers: the tenant's insurance carriers, Organization.type "pay". Created, updated and
//   deleted through FHIR; the EDI payer id is the identifier of system PAYER_ID_SYSTEM.
// Search reads both through the view fhir_organizations (migrations/017).
import { BOOLEAN, codeTable } from '../codes.ts';
import {
  addressFromJson, codingIn, compact, defineMapping, referenceTo, required, telecomFrom, telecomValue, type ResourceContent, type Row,
} from '../mapping.ts';
import { displaysIn, referenceParam, stringParam, tokenParam } from '../search/declarations.ts';

export const ORGANIZATION_TYPE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/organization-type';
export const TENANT_TYPE_SYSTEM = 'https://cusp.dental/fhir/CodeSystem/tenant-type';
export const PAYER_TYPE_SYSTEM = 'https://cusp.dental/fhir/CodeSystem/payer-type';
export const PAYER_ID_SYSTEM = 'https://cusp.dental/fhir/sid/payer-id';

/** profiles/CodeSystem-tenant-type.json ↔ tenants.type, with the organization-type each stands for (migrations/017 lists the same). */
export const TENANT_TYPE = codeTable({
  'solo-practice': 'SOLO_PRACTICE', 'group-practice': 'GROUP_PRACTICE', dso: 'DSO', academic: 'ACADEMIC',
  payer: 'PAYER', regulator: 'REGULATOR', 'ai-vendor': 'AI_VENDOR', other: 'OTHER',
});
export const TENANT_ORGANIZATION_TYPE: Record<string, string> = {
  SOLO_PRACTICE: 'prov', GROUP_PRACTICE: 'prov', DSO: 'prov', ACADEMIC: 'edu', PAYER: 'pay', REGULATOR: 'govt', AI_VENDOR: 'bus', OTHER: 'other',
};

/** profiles/CodeSystem-payer-type.json ↔ payers.type (free text: other values read as Organization.type.text). */
export const PAYER_TYPE = codeTable({
  commercial: 'COMMERCIAL', medicaid: 'MEDICAID', medicare: 'MEDICARE', government: 'GOVERNMENT', 'self-pay': 'SELF_PAY',
});

const isPayer = (organization: ResourceContent<fhir4.Organization>) =>
  organization.type?.some((type) => type.coding?.some((c) => c.system === ORGANIZATION_TYPE_SYSTEM && c.code === 'pay')) ?? false;

function tenantToResource(row: Row): ResourceContent<fhir4.Organization> {
  return compact({
    resourceType: 'Organization' as const,
    active: row.status === 'ACTIVE',
    type: [{
      coding: [
        { system: ORGANIZATION_TYPE_SYSTEM, code: TENANT_ORGANIZATION_TYPE[row.type as string] },
        { system: TENANT_TYPE_SYSTEM, code: TENANT_TYPE.toCode(row.type) },
      ],
    }],
    name: row.name as string,
    partOf: referenceTo('Organization', row.parent_tenant_id),
  });
}

function payerToResource(row: Row): ResourceContent<fhir4.Organization> {
  const payerType = PAYER_TYPE.toCode(row.type);
  return compact({
    resourceType: 'Organization' as const,
    identifier: row.payer_code ? [{ system: PAYER_ID_SYSTEM, value: row.payer_code as string }] : undefined,
    active: row.active as boolean,
    type: [
      { coding: [{ system: ORGANIZATION_TYPE_SYSTEM, code: 'pay' }] },
      payerType ? { coding: [{ system: PAYER_TYPE_SYSTEM, code: payerType }] } : row.type ? { text: row.type as string } : undefined,
    ].filter((type) => type !== undefined),
    name: row.name as string,
    telecom: telecomFrom([['phone', row.contact_phone], ['email', row.contact_email], ['url', row.website]]),
    address: row.address ? [addressFromJson(row.address)!] : undefined,
    contact: row.contact_name ? [{ name: { text: row.contact_name as string } }] : undefined,
  });
}

export const organizationMapping = defineMapping<fhir4.Organization>({
  type: 'Organization',
  table: 'fhir_organizations',
  children: [],
  softDelete: false,
  provenance: false,
  sourceElement: 'Organization.type',
  sources: [
    {
      table: 'payers', children: [], softDelete: false, provenance: false,
      description: `payers (Organization.type "pay" of ${ORGANIZATION_TYPE_SYSTEM})`,
      accepts: isPayer,
    },
    {
      table: 'tenants', children: [], softDelete: false, provenance: false,
      description: 'an organisation of the tenancy (this tenant, its parent or one of its children)',
      accepts: () => false,
      readOnly: 'these are managed through the admin API, not written through FHIR',
    },
  ],

  toRows(organization) {
    const payerType = codingIn(organization.type, PAYER_TYPE_SYSTEM)?.code;
    return {
      row: {
        name: required(organization.name, 'Organization.name', 'every payer has a name'),
        payer_code: organization.identifier?.find((identifier) => identifier.system === PAYER_ID_SYSTEM)?.value ?? null,
        type: payerType ? PAYER_TYPE.toColumn(payerType, 'Organization.type') : null,
        contact_name: organization.contact?.[0]?.name?.text ?? null,
        contact_phone: telecomValue(organization.telecom, 'phone'),
        contact_email: telecomValue(organization.telecom, 'email'),
        website: telecomValue(organization.telecom, 'url'),
        address: organization.address?.[0] ? JSON.stringify(organization.address[0]) : null,
        // A payer is active unless said otherwise (the column's default).
        active: organization.active ?? true,
      },
      children: {},
    };
  },

  toResource({ row, source }) {
    return source === 'tenants' ? tenantToResource(row) : payerToResource(row);
  },

  search: {
    name: stringParam({ expression: 'Organization.name', description: 'A portion of the organization\'s name' }, 'name'),
    identifier: tokenParam({ expression: 'Organization.identifier', description: 'Any identifier for the organization (the EDI payer id of a payer)' },
      { code: 'payer_code', system: { fixed: PAYER_ID_SYSTEM } }),
    type: tokenParam({ expression: 'Organization.type', description: 'A code for the type of organization' },
      {
        code: 'fhir_type', system: { fixed: ORGANIZATION_TYPE_SYSTEM },
        // For :text: the displays of the organization-type codes rendered.
        displays: displaysIn(ORGANIZATION_TYPE_SYSTEM, {
          prov: 'Healthcare Provider', edu: 'Educational Institute', pay: 'Payer', govt: 'Government', bus: 'Non-Healthcare Business or Corporation', other: 'Other',
        }),
      }),
    active: tokenParam({ expression: 'Organization.active', description: 'Is the Organization record active' }, { code: 'active', codes: BOOLEAN }),
    partof: referenceParam({ expression: 'Organization.partOf', description: 'An organization of which this organization forms a part' },
      'parent_tenant_id', ['Organization']),
  },
});
