// The ImagingStudy version snapshot (migrations/021) with a plan that holds up without the
// planner's statistics. The snapshot runs at the commit of every batch of stored instances, in
// PL/pgSQL, which keeps a generic plan made from the statistics of the moment. Made while the
// imaging tables were small or never analysed (a new database, the embedded one, a first large
// study before autovacuum came by), 021's study-wide grouping joined each instance to the teeth
// of the tenant's objects through an index on tenant_id alone: a 600-slice CBCT stored one
// instance per request slowed from 100 to 7 instances a second. Here each level is a subquery
// of its parent row: series of the study, instances of the series, teeth of the instance. The
// series and instances are read in the order of the index that leads with their parent's key
// (imaging_series_study_order_idx, imaging_objects_series_order_idx), which makes that index the
// cheapest path whatever the estimates; the teeth are read by their object's key alone (the
// instance is a shown one already). The snapshot is the same document, in the same order.
import type { Knex } from 'knex';
import { IMAGING_STUDY_SNAPSHOT_021 } from './021_fhir_imaging_study.ts';

/** The snapshot function as this migration makes it (migrations/026 replaces it, and restores it on the way down). */
export const IMAGING_STUDY_SNAPSHOT_024 = `create or replace function cusp_imaging_study_snapshot(tenant uuid, study uuid) returns jsonb language plpgsql stable as $$
    begin
      return (
        select to_jsonb(s) || jsonb_build_object('_source', 'imaging_studies', '_children', jsonb_build_object('imaging_series', coalesce((
          select jsonb_agg(jsonb_build_object(
                   'series_uid', se.series_uid, 'series_number', se.series_number, 'modality', se.modality,
                   'series_description', se.series_description, 'number_of_instances', se.number_of_instances,
                   'body_site_system', se.body_site_system, 'body_site_code', se.body_site_code, 'body_site_display', se.body_site_display,
                   'instances', coalesce((
                     select jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
                              'sop_instance_uid', i.sop_instance_uid, 'sop_class_uid', i.sop_class_uid, 'instance_number', i.instance_number,
                              'teeth', (select jsonb_agg(jsonb_build_object('system', t.system, 'code', t.code, 'display', t.display) order by t.system, t.code)
                                        from (select cusp_fhir_coding_system(t.code_system) as system, t.tooth_code as code, t.code_meaning as display
                                              from imaging_object_teeth t where t.tenant_id = i.tenant_id and t.object_id = i.id) t)))
                            order by i.instance_number nulls last, i.sop_instance_uid)
                     from (select * from fhir_imaging_instance_rows i where i.tenant_id = se.tenant_id and i.series_id = se.id and i.study_id = se.study_id
                           order by i.instance_number, i.sop_instance_uid) i), '[]'::jsonb))
                 order by se.series_number nulls last, se.series_uid)
          from (select * from fhir_imaging_series_rows se where se.tenant_id = s.tenant_id and se.study_id = s.id
                order by se.series_number, se.series_uid) se), '[]'::jsonb)))
        from fhir_imaging_study_rows s where s.tenant_id = tenant and s.id = study);
    end
  $$`;

export async function up(knex: Knex): Promise<void> {
  await knex.raw(IMAGING_STUDY_SNAPSHOT_024);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(IMAGING_STUDY_SNAPSHOT_021);
}
