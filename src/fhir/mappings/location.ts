// fhir4.Location ↔ locations (https://hl7.org/fhir/R4/location.html). The address column holds a
// FHIR Address as JSON (no other writer gives it another shape); telecom comes from the phone
// and email columns, status from active, type from the free-text type column through a Cusp
// code system. The timezone column has no R4 element: FHIR writes leave it as it is.
import { codeTable } from '../codes.ts';
import { addressFromJson, codingIn, compact, defineMapping, required, telecomFrom, telecomValue } from '../mapping.ts';
import { profileDisplays, stringParam, tokenParam } from '../search/declarations.ts';

export const LOCATION_TYPE_SYSTEM = 'https://cusp.dental/fhir/CodeSystem/location-type';

/** http://hl7.org/fhir/location-status ↔ active. "suspended" has no column value: 422. */
const LOCATION_STATUS = codeTable({ active: 'true', inactive: 'false' });
/** profiles/CodeSystem-location-type.json ↔ the values migration 002 names for locations.type. */
export const LOCATION_TYPE = codeTable({
  clinic: 'CLINIC', 'teaching-clinic': 'TEACHING_CLINIC', 'research-unit': 'RESEARCH_UNIT', virtual: 'VIRTUAL',
});

export const locationMapping = defineMapping<fhir4.Location>({
  type: 'Location',
  table: 'locations',
  children: [],
  softDelete: false,
  provenance: false,

  toRows(location) {
    const typeCoding = codingIn(location.type, LOCATION_TYPE_SYSTEM);
    return {
      row: {
        name: required(location.name, 'Location.name', 'every location has a name'),
        type: typeCoding?.code ? LOCATION_TYPE.toColumn(typeCoding.code, 'Location.type') : null,
        address: location.address ? JSON.stringify(location.address) : null,
        phone: telecomValue(location.telecom, 'phone'),
        email: telecomValue(location.telecom, 'email'),
        // An absent status is the column's default: a location is active until said otherwise.
        active: location.status ? LOCATION_STATUS.toColumn(location.status, 'Location.status') === 'true' : true,
      },
      children: {},
    };
  },

  toResource({ row }) {
    const type = LOCATION_TYPE.toCode(row.type);
    return compact({
      resourceType: 'Location' as const,
      status: LOCATION_STATUS.toCode(String(row.active)) as fhir4.Location['status'],
      name: row.name as string,
      type: type ? [{ coding: [{ system: LOCATION_TYPE_SYSTEM, code: type }] }] : undefined,
      telecom: telecomFrom([['phone', row.phone], ['email', row.email]]),
      address: addressFromJson(row.address),
    });
  },

  search: {
    name: stringParam({ expression: 'Location.name', description: 'A portion of the location name' }, 'name'),
    // A generated column (migrations/012) holds address ->> 'city' for the string search.
    'address-city': stringParam({ expression: 'Location.address.city', description: 'A city specified in an address' }, 'fhir_address_city'),
    status: tokenParam({ expression: 'Location.status', description: 'Searches for locations with a specific kind of status' },
      { code: 'active', system: { fixed: 'http://hl7.org/fhir/location-status' }, codes: LOCATION_STATUS }),
    type: tokenParam({ expression: 'Location.type', description: 'A code for the type of location' },
      { code: 'type', system: { fixed: LOCATION_TYPE_SYSTEM }, codes: LOCATION_TYPE, displays: profileDisplays('CodeSystem-location-type.json') }),
  },
});
