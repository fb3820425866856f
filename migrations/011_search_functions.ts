// Functions the FHIR search compiler relies on (src/fhir/search/compile.ts).
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  // String search is case- and accent-insensitive (search.html#string): lower case, decomposed,
  // combining marks removed. Immutable, so expression indexes can use it.
  await knex.raw(`create function cusp_fold(value text) returns text language sql immutable parallel safe as $$
    select regexp_replace(normalize(lower(value), NFD), '[\\u0300-\\u036f]', '', 'g')
  $$`);
  // Prefix search on names: the index the string parameters of Patient use.
  await knex.raw('create index patients_fold_last_name_idx on patients (tenant_id, cusp_fold(last_name) text_pattern_ops)');
  await knex.raw('create index patients_fold_first_name_idx on patients (tenant_id, cusp_fold(first_name) text_pattern_ops)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop index if exists patients_fold_first_name_idx');
  await knex.raw('drop index if exists patients_fold_last_name_idx');
  await knex.raw('drop function if exists cusp_fold(text)');
}
