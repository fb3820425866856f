// A snapshot names the table its row came from: "_source" beside "_children". A resource type
// that lies on several tables (src/fhir/mapping.ts, `sources`; e.g. Observation in vital_signs
// and perio_measurements) renders each version by the table it was taken from. The function is
// otherwise the one of 009, which the history trigger and the FHIR engine both call.
import type { Knex } from 'knex';

const SIGNATURE = 'cusp_resource_snapshot(main_table text, tenant uuid, resource_id uuid, children text[])';

function snapshotFunction(result: string): string {
  return `create or replace function ${SIGNATURE} returns jsonb
    language plpgsql stable as $$
    declare
      snapshot jsonb;
      grouped jsonb := '{}';
      child_rows jsonb;
      child text;
    begin
      execute format('select to_jsonb(r) from %I r where r.tenant_id = $1 and r.id = $2', main_table) into snapshot using tenant, resource_id;
      if snapshot is null then
        return null;
      end if;
      foreach child in array children loop
        execute format('select coalesce(jsonb_agg(to_jsonb(c) order by c.id), ''[]'') from %I c where c.tenant_id = $1 and c.%I = $2',
                       split_part(child, ':', 1), split_part(child, ':', 2))
          into child_rows using tenant, resource_id;
        grouped := grouped || jsonb_build_object(split_part(child, ':', 1), child_rows);
      end loop;
      return ${result};
    end
  $$`;
}

export async function up(knex: Knex): Promise<void> {
  await knex.raw(snapshotFunction(`snapshot || jsonb_build_object('_children', grouped, '_source', main_table)`));
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(snapshotFunction(`snapshot || jsonb_build_object('_children', grouped)`));
}
