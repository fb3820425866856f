// ImagingStudy versions that record what changed, not the whole study again. Until now each
// version's snapshot (migrations/021, 024) held every instance of the study: a study stored one
// instance per request made n versions of up to n instances, so a 400-slice CBCT left some 80,000
// instance copies in its history, and each stored batch took time in proportion to the study.
//
// - imaging_instance_versions holds each shown instance (fhir_imaging_instance_rows) once per
//   span of versions in which it looked the same: from first_version until until_version
//   (exclusive; null while it still shows). Its document is the instance's element of the
//   snapshot as migration 024 wrote it, teeth included.
// - Changes of stored objects and of their teeth record themselves (cusp_record_imaging_instances),
//   one statement at a time: the studies they belong to make their next version in this
//   transaction (as the touch triggers of 021-023 did), spans opened by that same version give way,
//   other open spans end at it, and the objects shown now open new ones. Plain SQL from other
//   writers is recorded the same way.
// - A version's snapshot keeps the study and its shown series (each with its id), without
//   instances: O(series) to write. cusp_imaging_study_document puts back the instances a
//   version showed, and fhir_resource_versions is resource_versions with it applied: the
//   table FHIR reads versions from. Snapshots written before this migration keep their
//   instances, and are read as they are.
import type { Knex } from 'knex';
import { enableTenantIsolation, PLATFORM_ROLE, TENANT_ROLE } from './_schema.ts';
import { TOUCH_STUDIES_OF_TEETH_022 } from './022_imaging_teeth_statement_trigger.ts';
import { IMAGING_STUDY_SNAPSHOT_024 } from './024_imaging_study_snapshot_plan.ts';

const SHOWN_OBJECT_COLUMNS = ['status', 'study_id', 'series_id', 'sop_instance_uid', 'sop_class_uid', 'instance_number'];

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('imaging_instance_versions', (t) => {
    t.uuid('tenant_id').notNullable().references('id').inTable('tenants');
    t.uuid('object_id').notNullable().comment('imaging_objects.id; no foreign key: the span outlives a deleted object, as history does');
    t.uuid('study_id').notNullable();
    t.uuid('series_id').notNullable();
    t.bigInteger('first_version').notNullable().comment('the first ImagingStudy version that shows the instance so');
    t.bigInteger('until_version').comment('the first version that no longer does; null while it still shows so');
    t.integer('instance_number');
    t.text('sop_instance_uid').notNullable();
    t.jsonb('document').notNullable().comment('the instance as a version snapshot holds it (migrations/024)');
    // The one index: a version's instances are read by series, an object's span by series and
    // object. With no other index to choose, the plans hold whatever the statistics say (a table
    // analysed when it held a row or two says tenant_id is unique, and every index looks alike).
    t.primary(['tenant_id', 'series_id', 'object_id', 'first_version']);
  });
  await enableTenantIsolation(knex, 'imaging_instance_versions');

  await knex.raw(RECORD_INSTANCES);
  await knex.raw(`do $$ begin execute format('grant create on schema %I to ${PLATFORM_ROLE}', current_schema()); end $$`);
  await knex.raw(`alter function cusp_record_imaging_instances(jsonb) owner to ${PLATFORM_ROLE}`);
  await knex.raw(`do $$ begin execute format('revoke create on schema %I from ${PLATFORM_ROLE}', current_schema()); end $$`);

  // Inserts of shown objects are rare (ingest inserts CREATING ones): a row trigger, whose WHEN
  // costs the others nothing. Updates and deletes come in batches: one call per statement. Each
  // passes what the object showed and shows (the transition tables hold it), so that no object
  // is looked up again.
  await knex.raw(`create function cusp_record_inserted_imaging_object() returns trigger language plpgsql as $$
    begin
      perform cusp_record_imaging_instances(jsonb_build_array(${change(null, 'new')}));
      return null;
    end
  $$`);
  await knex.raw(`create function cusp_record_changed_imaging_objects() returns trigger language plpgsql as $$
    declare
      changes jsonb;
    begin
      if tg_op = 'DELETE' then
        select jsonb_agg(${change('o', null)}) into changes from old_objects o where o.status = 'CREATED';
      else
        select jsonb_agg(${change('o', 'n')}) into changes
        from old_objects o full join new_objects n on n.tenant_id = o.tenant_id and n.id = o.id
        where (o.status = 'CREATED' or n.status = 'CREATED')
          and (${SHOWN_OBJECT_COLUMNS.map((c) => `o.${c}`).join(', ')}) is distinct from (${SHOWN_OBJECT_COLUMNS.map((c) => `n.${c}`).join(', ')});
      end if;
      if changes is not null then
        perform cusp_record_imaging_instances(changes);
      end if;
      return null;
    end
  $$`);
  for (const op of ['insert', 'update', 'delete']) await knex.raw(`drop trigger imaging_objects_touch_study_${op} on imaging_objects`);
  await knex.raw(`create trigger imaging_objects_record_instance_insert after insert on imaging_objects for each row
    when (new.status = 'CREATED') execute function cusp_record_inserted_imaging_object()`);
  await knex.raw(`create trigger imaging_objects_record_instances_update after update on imaging_objects
    referencing old table as old_objects new table as new_objects for each statement execute function cusp_record_changed_imaging_objects()`);
  await knex.raw(`create trigger imaging_objects_record_instances_delete after delete on imaging_objects
    referencing old table as old_objects for each statement execute function cusp_record_changed_imaging_objects()`);

  // Teeth (migrations/022): the spans of their objects, where shown, are recorded again (ingest
  // inserts the teeth of objects still CREATING, which changes nothing shown). One object at a
  // time, by its key: a join with a transition table (which has no statistics) could scan
  // imaging_objects.
  const teethObjects = (teeth: string) => `for object in select distinct tenant_id, object_id from ${teeth} loop
          select ${change('o', 'o')} into shown_change
          from imaging_objects o where o.tenant_id = object.tenant_id and o.id = object.object_id and ${shown('o')};
          if found then
            changes := coalesce(changes, '[]'::jsonb) || jsonb_build_array(shown_change);
          end if;
        end loop;`;
  await knex.raw(`create or replace function cusp_touch_imaging_studies_of_teeth() returns trigger language plpgsql as $$
    declare
      changes jsonb;
      shown_change jsonb;
      object record;
    begin
      -- Each branch reads the transition tables of its own trigger only.
      if tg_op = 'INSERT' then
        ${teethObjects('new_teeth')}
      elsif tg_op = 'DELETE' then
        ${teethObjects('old_teeth')}
      else
        ${teethObjects('(select tenant_id, object_id from old_teeth union all select tenant_id, object_id from new_teeth) t')}
      end if;
      if changes is not null then
        perform cusp_record_imaging_instances(changes);
      end if;
      return null;
    end
  $$`);

  await knex.raw(SNAPSHOT_WITHOUT_INSTANCES);
  await knex.raw(IMAGING_STUDY_DOCUMENT);
  await knex.raw(`create view fhir_resource_versions with (security_invoker = true) as
    select seq, tenant_id, resource_type, resource_id, version_id, last_updated, operation,
           case when resource_type = 'ImagingStudy' then cusp_imaging_study_document(snapshot, tenant_id, resource_id, version_id)
                else snapshot end as snapshot
    from resource_versions`);
  await knex.raw(`grant select on fhir_resource_versions to ${TENANT_ROLE}, ${PLATFORM_ROLE}`);

  // What stored studies show now opens at their current version, whose snapshot holds it already.
  await knex.raw(`insert into imaging_instance_versions (tenant_id, object_id, study_id, series_id, first_version, instance_number, sop_instance_uid, document)
    select i.tenant_id, i.id, i.study_id, i.series_id, s.version_id, i.instance_number, i.sop_instance_uid, ${INSTANCE_DOCUMENT}
    from fhir_imaging_instance_rows i join imaging_studies s on s.tenant_id = i.tenant_id and s.id = i.study_id`);
}

/** An instance of fhir_imaging_instance_rows `i` as a snapshot holds it (migrations/024). */
const INSTANCE_DOCUMENT = `jsonb_strip_nulls(jsonb_build_object(
      'sop_instance_uid', i.sop_instance_uid, 'sop_class_uid', i.sop_class_uid, 'instance_number', i.instance_number,
      'teeth', (select jsonb_agg(jsonb_build_object('system', t.system, 'code', t.code, 'display', t.display) order by t.system, t.code)
                from (select cusp_fhir_coding_system(t.code_system) as system, t.tooth_code as code, t.code_meaning as display
                      from imaging_object_teeth t where t.tenant_id = i.tenant_id and t.object_id = i.id) t)))`;

/** Whether imaging_objects row `row` is shown (fhir_imaging_instance_rows). */
const shown = (row: string) => `(${row}.status = 'CREATED' and ${row}.sop_instance_uid is not null and ${row}.sop_class_uid is not null)`;

/** What object `before` showed (its open span) and `after` shows, as cusp_record_imaging_instances takes it; null for none. */
function change(before: string | null, after: string | null): string {
  const rows = [...new Set([after, before])].filter((row): row is string => row !== null);
  const either = (column: string) => (rows.length === 1 ? `${rows[0]}.${column}` : `coalesce(${rows.map((row) => `${row}.${column}`).join(', ')})`);
  const ifShown = (row: string | null, column: string) => (row === null ? 'null' : `case when ${shown(row)} then ${row}.${column} end`);
  return `jsonb_build_object('tenant_id', ${either('tenant_id')}, 'object_id', ${either('id')},
    'study_before', ${ifShown(before, 'study_id')}, 'series_before', ${ifShown(before, 'series_id')},
    'study_id', ${ifShown(after, 'study_id')}, 'series_id', ${ifShown(after, 'series_id')},
    'sop_instance_uid', ${ifShown(after, 'sop_instance_uid')}, 'sop_class_uid', ${ifShown(after, 'sop_class_uid')},
    'instance_number', ${ifShown(after, 'instance_number')})`;
}

const CHANGES = `jsonb_to_recordset(changes) as c (tenant_id uuid, object_id uuid, study_before uuid, series_before uuid,
    study_id uuid, series_id uuid, sop_instance_uid text, sop_class_uid text, instance_number integer)`;

/**
 * Records what changed objects showed before (study_before, series_before: the open span) and
 * show now (study_id and the rest; null when not shown). The studies of both make their next
 * version in this transaction (version_txid is this transaction's), then the spans are closed and
 * opened at that version: a span this very version opened gives way. Every lookup is by the full
 * key of a row. Run as cusp_platform, as the history trigger is (migrations/021): a writer with no
 * tenant set (plain SQL) records spans too.
 */
const RECORD_INSTANCES = `create function cusp_record_imaging_instances(changes jsonb) returns void language plpgsql
    security definer set search_path from current as $$
    declare
      versions jsonb := '{}';
      closes_spans boolean := false;
      touched record;
      study_version bigint;
    begin
      -- One study at a time, by its key: a join would be planned for the 100 rows a set-returning
      -- function is assumed to give, and could scan imaging_studies.
      for touched in select distinct c.tenant_id, study.id, c.study_before is not null as shown_before
          from ${CHANGES} cross join lateral (values (c.study_before), (c.study_id)) as study (id) where study.id is not null loop
        study_version := null;
        update imaging_studies s set version_id = s.version_id
        where s.tenant_id = touched.tenant_id and s.id = touched.id and s.version_txid <> txid_current()
        returning s.version_id into study_version;
        if not found then
          select s.version_id into study_version from imaging_studies s where s.tenant_id = touched.tenant_id and s.id = touched.id;
        end if;
        if study_version is not null then -- else the study is gone (deleted in this transaction): the deletion is its last version
          versions := versions || jsonb_build_object(touched.tenant_id || '/' || touched.id, study_version);
        end if;
        closes_spans := closes_spans or touched.shown_before;
      end loop;

      if closes_spans then
        delete from imaging_instance_versions v using ${CHANGES}
        where v.tenant_id = c.tenant_id and v.series_id = c.series_before and v.object_id = c.object_id and v.until_version is null
          and v.first_version = (versions ->> (c.tenant_id || '/' || c.study_before))::bigint;
        update imaging_instance_versions v set until_version = (versions ->> (c.tenant_id || '/' || c.study_before))::bigint
        from ${CHANGES}
        where v.tenant_id = c.tenant_id and v.series_id = c.series_before and v.object_id = c.object_id and v.until_version is null
          and versions ->> (c.tenant_id || '/' || c.study_before) is not null;
      end if;

      insert into imaging_instance_versions (tenant_id, object_id, study_id, series_id, first_version, instance_number, sop_instance_uid, document)
      select i.tenant_id, i.object_id, i.study_id, i.series_id, (versions ->> (i.tenant_id || '/' || i.study_id))::bigint,
             i.instance_number, i.sop_instance_uid, ${INSTANCE_DOCUMENT}
      from (select c.tenant_id, c.object_id as id, c.object_id, c.study_id, c.series_id, c.sop_instance_uid, c.sop_class_uid, c.instance_number
            from ${CHANGES} where c.study_id is not null) i
      where versions ->> (i.tenant_id || '/' || i.study_id) is not null;
    end
  $$`;

/** Migration 024's snapshot, each series with its id and without its instances. */
const SNAPSHOT_WITHOUT_INSTANCES = `create or replace function cusp_imaging_study_snapshot(tenant uuid, study uuid) returns jsonb language plpgsql stable as $$
    begin
      return (
        select to_jsonb(s) || jsonb_build_object('_source', 'imaging_studies', '_children', jsonb_build_object('imaging_series', coalesce((
          select jsonb_agg(jsonb_build_object(
                   'id', se.id, 'series_uid', se.series_uid, 'series_number', se.series_number, 'modality', se.modality,
                   'series_description', se.series_description, 'number_of_instances', se.number_of_instances,
                   'body_site_system', se.body_site_system, 'body_site_code', se.body_site_code, 'body_site_display', se.body_site_display)
                 order by se.series_number nulls last, se.series_uid)
          from (select * from fhir_imaging_series_rows se where se.tenant_id = s.tenant_id and se.study_id = s.id
                order by se.series_number, se.series_uid) se), '[]'::jsonb)))
        from fhir_imaging_study_rows s where s.tenant_id = tenant and s.id = study);
    end
  $$`;

/** A version's snapshot with the instances it showed under each series that has none written. */
const IMAGING_STUDY_DOCUMENT = `create function cusp_imaging_study_document(snapshot jsonb, tenant uuid, study uuid, version bigint) returns jsonb
    language sql stable as $$
    select case when jsonb_typeof(snapshot #> '{_children,imaging_series}') = 'array' then jsonb_set(snapshot, '{_children,imaging_series}', (
      select coalesce(jsonb_agg(case when se -> 'instances' is not null then se else se || jsonb_build_object('instances', coalesce((
          select jsonb_agg(i.document order by i.instance_number nulls last, i.sop_instance_uid)
          from imaging_instance_versions i
          where i.tenant_id = tenant and i.series_id = (se ->> 'id')::uuid and i.study_id = study
            and i.first_version <= version and (i.until_version is null or i.until_version > version)), '[]'::jsonb)) end
        order by position), '[]'::jsonb)
      from jsonb_array_elements(snapshot #> '{_children,imaging_series}') with ordinality as series (se, position)))
    else snapshot end
  $$`;

export async function down(knex: Knex): Promise<void> {
  // Snapshots written since get their instances back, as 024 wrote them.
  await knex.raw('alter table resource_versions disable trigger resource_versions_append_only');
  await knex.raw(`update resource_versions set snapshot = cusp_imaging_study_document(snapshot, tenant_id, resource_id, version_id)
    where resource_type = 'ImagingStudy' and snapshot is not null`);
  await knex.raw('alter table resource_versions enable trigger resource_versions_append_only');
  await knex.raw('drop view fhir_resource_versions');
  await knex.raw('drop function cusp_imaging_study_document(jsonb, uuid, uuid, bigint)');
  await knex.raw(IMAGING_STUDY_SNAPSHOT_024);

  await knex.raw('drop trigger imaging_objects_record_instance_insert on imaging_objects');
  await knex.raw('drop trigger imaging_objects_record_instances_update on imaging_objects');
  await knex.raw('drop trigger imaging_objects_record_instances_delete on imaging_objects');
  // As migrations 021 and 023 made them.
  const touchStudy = 'execute function cusp_touch_imaging_study()';
  await knex.raw(`create trigger imaging_objects_touch_study_insert after insert on imaging_objects for each row
    when (new.status = 'CREATED') ${touchStudy}`);
  await knex.raw(`create trigger imaging_objects_touch_study_update after update on imaging_objects for each row
    when ((old.status = 'CREATED' or new.status = 'CREATED')
          and (${SHOWN_OBJECT_COLUMNS.map((c) => `old.${c}`).join(', ')}) is distinct from (${SHOWN_OBJECT_COLUMNS.map((c) => `new.${c}`).join(', ')})) ${touchStudy}`);
  await knex.raw(`create trigger imaging_objects_touch_study_delete after delete on imaging_objects for each row
    when (old.status = 'CREATED') ${touchStudy}`);
  await knex.raw(TOUCH_STUDIES_OF_TEETH_022);
  await knex.raw('drop function cusp_record_changed_imaging_objects()');
  await knex.raw('drop function cusp_record_inserted_imaging_object()');
  await knex.raw('drop function cusp_record_imaging_instances(jsonb)');
  await knex.schema.dropTable('imaging_instance_versions');
}
