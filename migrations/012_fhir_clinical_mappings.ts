// History and search support for the FHIR Location, Encounter and Procedure mappings
// (src/fhir/mappings/location.ts, encounter.ts, procedure.ts).
//
// Two generated columns give the search compiler, which matches plain columns, the values a
// search parameter means: locations.fhir_address_city is the city of the Address held in
// locations.address (address-city), encounters.fhir_period_start is period.start as rendered,
// the check-in or, before it, the scheduled start (date). Other writers need not know them.
import type { Knex } from 'knex';
import { enableResourceHistory } from './_schema.ts';

const RESOURCES = [
  { table: 'locations', resourceType: 'Location' },
  { table: 'encounters', resourceType: 'Encounter' },
  { table: 'procedures', resourceType: 'Procedure' },
];

export async function up(knex: Knex): Promise<void> {
  for (const resource of RESOURCES) await enableResourceHistory(knex, resource);

  await knex.raw("comment on column locations.address is 'a FHIR R4 Address as JSON (https://hl7.org/fhir/R4/datatypes.html#Address)'");
  await knex.raw("alter table locations add column fhir_address_city text generated always as (address ->> 'city') stored");
  await knex.raw('create index locations_fold_name_idx on locations (tenant_id, cusp_fold(name) text_pattern_ops)');
  await knex.raw('create index locations_fold_address_city_idx on locations (tenant_id, cusp_fold(fhir_address_city) text_pattern_ops)');

  await knex.raw(`alter table encounters add column fhir_period_start timestamptz
    generated always as (coalesce(check_in_at, scheduled_start_at)) stored`);
  await knex.raw('create index encounters_period_idx on encounters (tenant_id, fhir_period_start)');

  await knex.raw('create index procedures_start_idx on procedures (tenant_id, start_at)');
  await knex.raw('create index procedures_cdt_code_idx on procedures (tenant_id, cdt_code)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop index if exists procedures_cdt_code_idx');
  await knex.raw('drop index if exists procedures_start_idx');
  await knex.raw('drop index if exists encounters_period_idx');
  await knex.raw('alter table encounters drop column if exists fhir_period_start');
  await knex.raw('drop index if exists locations_fold_address_city_idx');
  await knex.raw('drop index if exists locations_fold_name_idx');
  await knex.raw('alter table locations drop column if exists fhir_address_city');
  await knex.raw('comment on column locations.address is null');
  for (const { table } of [...RESOURCES].reverse()) {
    await knex.raw(`drop trigger if exists ${table}_record_version on ${table}`);
    await knex.raw(`alter table ${table} drop column if exists fhir_residual`);
  }
}
