// Birth-date searches compare the bare dob column (src/fhir/search/compile.ts): index it.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw('create index patients_tenant_dob_idx on patients (tenant_id, dob)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop index if exists patients_tenant_dob_idx');
}
