// The resource types Cusp serves, by type name.
import type { AnyMapping } from '../mapping.ts';
import { encounterMapping } from './encounter.ts';
import { endpointMapping } from './endpoint.ts';
import { imagingStudyMapping } from './imaging-study.ts';
import { locationMapping } from './location.ts';
import { observationMapping } from './observation.ts';
import { organizationMapping } from './organization.ts';
import { patientMapping } from './patient.ts';
import { practitionerMapping } from './practitioner.ts';
import { procedureMapping } from './procedure.ts';

export const MAPPINGS: ReadonlyMap<string, AnyMapping> = new Map(
  [patientMapping, practitionerMapping, organizationMapping, locationMapping, encounterMapping, procedureMapping, observationMapping,
    imagingStudyMapping, endpointMapping]
    .map((mapping) => mapping as unknown as AnyMapping).map((mapping) => [mapping.type, mapping]),
);
