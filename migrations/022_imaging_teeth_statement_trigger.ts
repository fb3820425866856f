// A change to the teeth of stored instances touches their studies (a new ImagingStudy version,
// migrations/021) once per statement rather than once per tooth row: ingest inserts the teeth of
// a whole batch of instances in one statement, and a row trigger ran a study update for each.
import type { Knex } from 'knex';

/** The function as this migration makes it (migrations/026 replaces it, and restores it on the way down). */
export const TOUCH_STUDIES_OF_TEETH_022 = `create or replace function cusp_touch_imaging_studies_of_teeth() returns trigger language plpgsql as $$
    declare
      changed record;
    begin
      for changed in execute case tg_op
          when 'INSERT' then 'select distinct tenant_id, object_id from new_teeth'
          when 'DELETE' then 'select distinct tenant_id, object_id from old_teeth'
          else 'select tenant_id, object_id from old_teeth union select tenant_id, object_id from new_teeth' end loop
        update imaging_studies s set version_id = s.version_id
        from imaging_objects o
        where o.tenant_id = changed.tenant_id and o.id = changed.object_id and o.status = 'CREATED'
          and s.tenant_id = o.tenant_id and s.id = o.study_id and s.version_txid <> txid_current();
      end loop;
      return null;
    end
  $$`;

export async function up(knex: Knex): Promise<void> {
  await knex.raw('drop trigger imaging_object_teeth_touch_study on imaging_object_teeth');
  await knex.raw('drop function cusp_touch_imaging_study_of_tooth()');
  // Each branch reads the transition tables of its own trigger only. One indexed update per
  // object: a join with a transition table (which has no statistics) could scan imaging_objects.
  await knex.raw(TOUCH_STUDIES_OF_TEETH_022);
  const touch = 'for each statement execute function cusp_touch_imaging_studies_of_teeth()';
  await knex.raw(`create trigger imaging_object_teeth_touch_study_insert after insert on imaging_object_teeth
    referencing new table as new_teeth ${touch}`);
  await knex.raw(`create trigger imaging_object_teeth_touch_study_delete after delete on imaging_object_teeth
    referencing old table as old_teeth ${touch}`);
  await knex.raw(`create trigger imaging_object_teeth_touch_study_update after update on imaging_object_teeth
    referencing old table as old_teeth new table as new_teeth ${touch}`);
}

export async function down(knex: Knex): Promise<void> {
  for (const op of ['insert', 'delete', 'update']) await knex.raw(`drop trigger imaging_object_teeth_touch_study_${op} on imaging_object_teeth`);
  await knex.raw('drop function cusp_touch_imaging_studies_of_teeth()');
  await knex.raw(`create function cusp_touch_imaging_study_of_tooth() returns trigger language plpgsql as $$
    declare
      tooth imaging_object_teeth;
    begin
      foreach tooth in array (case tg_op when 'INSERT' then array[new] when 'DELETE' then array[old] else array[old, new] end) loop
        update imaging_studies s set version_id = s.version_id
        from imaging_objects o
        where o.tenant_id = tooth.tenant_id and o.id = tooth.object_id and o.status = 'CREATED'
          and s.tenant_id = o.tenant_id and s.id = o.study_id and s.version_txid <> txid_current();
      end loop;
      return null;
    end
  $$`);
  await knex.raw(`create trigger imaging_object_teeth_touch_study after insert or update or delete on imaging_object_teeth
    for each row execute function cusp_touch_imaging_study_of_tooth()`);
}
