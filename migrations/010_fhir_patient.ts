// History for the FHIR Patient mapping (src/fhir/mappings/patient.ts).
import type { Knex } from 'knex';
import { enableResourceHistory } from './_schema.ts';

const PATIENT_CHILDREN = [
  { table: 'patient_identifiers', foreignKey: 'patient_id' },
  { table: 'patient_addresses', foreignKey: 'patient_id' },
];

export async function up(knex: Knex): Promise<void> {
  await enableResourceHistory(knex, { table: 'patients', resourceType: 'Patient', children: PATIENT_CHILDREN });
}

export async function down(knex: Knex): Promise<void> {
  for (const child of PATIENT_CHILDREN) await knex.raw(`drop trigger if exists ${child.table}_touch_patients on ${child.table}`);
  await knex.raw('drop trigger if exists patients_record_version on patients');
  await knex.raw('alter table patients drop column if exists fhir_residual');
}
