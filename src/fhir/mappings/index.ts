// The resource types Cusp serves, by type name.
import type { AnyMapping } from '../mapping.ts';
import { patientMapping } from './patient.ts';

export const MAPPINGS: ReadonlyMap<string, AnyMapping> = new Map(
  [patientMapping as unknown as AnyMapping].map((mapping) => [mapping.type, mapping]),
);
