// _tag, _profile and _security search (https://hl7.org/fhir/R4/search.html#all). A resource's
// tags, profiles and security labels lie in the residual of its row, fhir_residual -> 'meta' ->
// 'value' (src/fhir/residual.ts), which search matches by jsonb containment
// (src/fhir/search/compile.ts):
// - fhir_observations, what Observation search reads, gains the residual of both its tables;
// - every table that keeps a residual gets a GIN index on that expression, which serves @> (a
//   table that a later migration gives a residual needs the same index).
import type { Knex } from 'knex';
import { PLATFORM_ROLE, TENANT_ROLE } from './_schema.ts';
import { observationsQuery } from './014_fhir_observation.ts';

const indexName = (table: string) => `${table}_fhir_meta_idx`;

async function tablesWithResidual(knex: Knex): Promise<string[]> {
  const { rows } = await knex.raw<{ rows: { table_name: string }[] }>(`select c.table_name from information_schema.columns c
    join information_schema.tables t on t.table_schema = c.table_schema and t.table_name = c.table_name and t.table_type = 'BASE TABLE'
    where c.table_schema = current_schema() and c.column_name = 'fhir_residual' order by c.table_name`);
  return rows.map((row) => row.table_name);
}

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`create or replace view fhir_observations as ${observationsQuery(['fhir_residual'])}`);
  for (const table of await tablesWithResidual(knex)) {
    await knex.raw(`create index ?? on ?? using gin ((fhir_residual -> 'meta' -> 'value') jsonb_path_ops)`, [indexName(table), table]);
  }
}

export async function down(knex: Knex): Promise<void> {
  for (const table of await tablesWithResidual(knex)) await knex.raw('drop index if exists ??', [indexName(table)]);
  // A view cannot lose a column in place.
  await knex.raw('drop view fhir_observations');
  await knex.raw(`create view fhir_observations as ${observationsQuery()}`);
  await knex.raw(`grant select on fhir_observations to ${TENANT_ROLE}, ${PLATFORM_ROLE}`);
}
