// History and search for the FHIR ImagingStudy and Endpoint mappings (src/fhir/mappings/imaging-study.ts,
// endpoint.ts). Both are read-only through FHIR: DICOM ingest (STOW-RS, C-STORE) writes the
// imaging tables, and the DICOMweb service of a tenant exists as long as the tenant does.
//
// ImagingStudy: one imaging_studies row, its series that hold stored instances, their CREATED
// objects and the teeth those name (imaging_object_teeth).
// - fhir_imaging_study_rows, fhir_imaging_series_rows, fhir_imaging_instance_rows and
//   fhir_imaging_tooth_rows say what the resource shows, for every tenant: the history trigger
//   builds each version's snapshot from them (cusp_imaging_study_snapshot), so plain SQL from
//   other writers yields versions too. Only cusp_platform may read them.
// - A change the resource shows is a version: ingest updates the study's counts in the
//   transaction that marks an object CREATED; a change of a visible object, series or tooth
//   touches the study besides, so other writers need not know. Objects still CREATING, and
//   series without stored instances, are not shown and do not touch it.
// - ImagingStudy.started is kept beside study_date and study_time (DICOM DA and TM, which carry no
//   time zone): with the tenant's default time zone (tenant_settings.default_timezone) the
//   instant, with its offset; without one, or without a valid time, the date alone. Search
//   compares the range it stands for (fhir_started_start, fhir_started_end). A later change of the
//   tenant's time zone applies to studies written after it.
// - fhir_imaging_studies and its child views are what search reads: the caller's tenant only
//   (views run with their owner's rights, so each filters on cusp_tenant_id() itself).
//
// Endpoint: the tenant's DICOMweb service, one per tenant, whose id is the tenant's. It has no
// table of its own: fhir_endpoint_rows is one row per tenant, recorded as version 1 when the
// tenant is created; its address is the server's public base URL, which the mapping renders.
import type { Knex } from 'knex';
import { PLATFORM_ROLE, TENANT_ROLE } from './_schema.ts';

const SNOMED = 'http://snomed.info/sct';
/** BodyPartExamined values with no SNOMED CT correspondence below: the DICOM defined term itself (src/fhir/mappings/imaging-study.ts lists the same). */
const BODY_PART_SYSTEM = 'https://cusp.dental/fhir/CodeSystem/dicom-body-part-examined';

/**
 * BodyPartExamined (0018,0015) defined terms of the head and neck → SNOMED CT, as DICOM PS3.16
 * Annex L (Table L-1) maps them; other terms render as themselves in BODY_PART_SYSTEM.
 */
const BODY_PARTS: [term: string, code: string, display: string][] = [
  ['JAW', '661005', 'Jaw region'],
  ['MAXILLA', '70925003', 'Maxilla'],
  ['MANDIBLE', '91609006', 'Mandible'],
  ['TMJ', '53620006', 'Temporomandibular joint'],
  ['MOUTH', '123851003', 'Mouth region'],
  ['TONGUE', '21974007', 'Tongue'],
  ['FACE', '89545001', 'Face'],
  ['HEAD', '69536005', 'Head'],
  ['HEADNECK', '774007', 'Head and Neck'],
  ['SKULL', '89546000', 'Skull'],
  ['NECK', '45048000', 'Neck'],
];

/**
 * Coding scheme designators (DICOM PS3.16 section 8) → FHIR code system URIs; others render
 * without a system. ISO 3950 tooth designations have no FHIR URI: the OID DICOM gives the scheme,
 * also for "FDI", the same two-digit notation.
 */
const CODING_SCHEMES: [designator: string, system: string][] = [
  ['SCT', SNOMED], ['SRT', 'http://snomed.info/srt'], ['DCM', 'http://dicom.nema.org/resources/ontology/DCM'],
  ['LN', 'http://loinc.org'], ['ISO3950', 'urn:oid:1.0.3950'], ['FDI', 'urn:oid:1.0.3950'],
];

/** user_tenants.user_type values that are Practitioners (migrations/017). */
const CLINICIAN_TYPES = ['DENTIST', 'HYGIENIST', 'ASSISTANT'];

const PLATFORM_FUNCTIONS = ['cusp_record_imaging_study()', 'cusp_record_tenant_endpoint()'];
const ROW_VIEWS = ['fhir_imaging_study_rows', 'fhir_imaging_series_rows', 'fhir_imaging_instance_rows', 'fhir_imaging_tooth_rows', 'fhir_endpoint_rows'];
const SEARCH_VIEWS = ['fhir_imaging_studies', 'fhir_imaging_study_series', 'fhir_imaging_study_instances', 'fhir_imaging_study_identifiers',
  'fhir_imaging_study_body_sites', 'fhir_endpoints'];
const INDEXES = ['imaging_studies_uid_urn_idx', 'imaging_studies_started_idx', 'imaging_series_body_part_idx'];

const quoted = (values: string[]) => values.map((value) => `'${value}'`).join(', ');
const valuesList = (rows: string[][]) => rows.map((row) => `(${quoted(row)})`).join(', ');

export async function up(knex: Knex): Promise<void> {
  await started(knex);
  await imagingStudyViews(knex);
  await imagingStudyHistory(knex);
  await endpoints(knex);

  await knex.raw(`do $$ begin execute format('grant create on schema %I to ${PLATFORM_ROLE}', current_schema()); end $$`);
  for (const fn of PLATFORM_FUNCTIONS) await knex.raw(`alter function ${fn} owner to ${PLATFORM_ROLE}`);
  await knex.raw(`do $$ begin execute format('revoke create on schema %I from ${PLATFORM_ROLE}', current_schema()); end $$`);

  // Studies already there get ImagingStudy.started, and become versions at commit; tenants their Endpoint.
  await knex.raw('update imaging_studies set study_time = study_time');
  await knex.raw(`insert into resource_versions (tenant_id, resource_type, resource_id, version_id, last_updated, operation, snapshot)
    select e.tenant_id, 'Endpoint', e.id, e.version_id, e.last_updated, 'create', ${endpointSnapshot('e')}
    from fhir_endpoint_rows e on conflict do nothing`);
}

async function started(knex: Knex): Promise<void> {
  await knex.schema.alterTable('imaging_studies', (t) => {
    t.text('fhir_started').comment('FHIR ImagingStudy.started: study_date and study_time in the tenant\'s time zone (migrations/021)');
    t.timestamp('fhir_started_start', { useTz: true }).comment('start of the range ImagingStudy.started stands for');
    t.timestamp('fhir_started_end', { useTz: true }).comment('end (exclusive) of the range ImagingStudy.started stands for');
  });
  // DICOM TM is HH[MM[SS[.F{1,6}]]] (older writers put colons between the parts); its precision
  // is the length of the range it stands for. (No "?" in the SQL: knex.raw would take it for a binding.)
  await knex.raw(`create function cusp_fhir_started(day date, tm text, zone text,
      out started text, out range_start timestamptz, out range_end timestamptz) language plpgsql stable as $$
    declare
      time_parts text[] := regexp_match(replace(trim(coalesce(tm, '')), ':', ''), '^([0-9]{2})(([0-9]{2})(([0-9]{2})(\\.[0-9]{1,6}){0,1}){0,1}){0,1}$');
      parts text[] := array[time_parts[1], time_parts[3], time_parts[5], time_parts[6]]; -- hours, minutes, seconds, fraction
      local timestamp;
      instant timestamptz;
      offset_minutes integer;
    begin
      if day is null then
        return;
      end if;
      if time_parts is not null and zone is not null
         and parts[1]::integer < 24 and coalesce(parts[2], '0')::integer < 60 and coalesce(parts[3], '0')::integer < 60 then
        local := day + make_interval(hours => parts[1]::integer, mins => coalesce(parts[2], '0')::integer,
                                     secs => (coalesce(parts[3], '0') || coalesce(parts[4], ''))::double precision);
        begin
          instant := local at time zone zone;
        exception when others then
          instant := null; -- not a time zone PostgreSQL knows: the date alone
        end;
        if instant is not null then
          offset_minutes := round(extract(epoch from local - (instant at time zone 'UTC')) / 60);
          started := to_char(local, 'YYYY-MM-DD"T"HH24:MI:SS') || coalesce(parts[4], '')
            || case when offset_minutes = 0 then 'Z'
                    else case when offset_minutes < 0 then '-' else '+' end || lpad((abs(offset_minutes) / 60)::text, 2, '0')
                         || ':' || lpad((abs(offset_minutes) % 60)::text, 2, '0') end;
          range_start := instant;
          range_end := instant + case when parts[4] is not null then make_interval(secs => power(10, 1 - length(parts[4])))
                                      when parts[3] is not null then interval '1 second'
                                      when parts[2] is not null then interval '1 minute' else interval '1 hour' end;
          return;
        end if;
      end if;
      started := to_char(day, 'YYYY-MM-DD');
      range_start := day::timestamp at time zone 'UTC';
      range_end := (day + 1)::timestamp at time zone 'UTC';
    end
  $$`);
  await knex.raw(`create function cusp_set_imaging_study_started() returns trigger language plpgsql as $$
    begin
      select s.started, s.range_start, s.range_end into new.fhir_started, new.fhir_started_start, new.fhir_started_end
      from cusp_fhir_started(new.study_date, new.study_time,
                             (select ts.default_timezone from tenant_settings ts where ts.tenant_id = new.tenant_id)) s;
      return new;
    end
  $$`);
  await knex.raw(`create trigger imaging_studies_started before insert or update of study_date, study_time on imaging_studies
    for each row execute function cusp_set_imaging_study_started()`);
  await knex.raw('create index imaging_studies_started_idx on imaging_studies (tenant_id, fhir_started_start)');
}

async function imagingStudyViews(knex: Knex): Promise<void> {
  await knex.raw(`create function cusp_fhir_coding_system(designator text) returns text language sql immutable as $$
    select case designator ${CODING_SCHEMES.map(([designator, system]) => `when '${designator}' then '${system}'`).join(' ')} end
  $$`);

  // Status: a study with no stored instance is "registered" (its existence is known, nothing is available yet).
  await knex.raw(`create view fhir_imaging_study_rows as
    select s.id, s.tenant_id, s.version_id, s.last_updated, 'imaging_studies'::text as source_table, null::jsonb as fhir_residual,
           s.patient_id, s.encounter_id, s.tenant_id as endpoint_id,
           (select m.user_id from user_tenants m where m.tenant_id = s.tenant_id and m.user_id = s.referring_provider_id
              and m.user_type in (${quoted(CLINICIAN_TYPES)})) as referrer_id,
           s.referring_physician_name, s.study_uid, s.accession_number, s.study_description,
           s.fhir_started, s.fhir_started_start, s.fhir_started_end,
           case when s.status = 'AVAILABLE' and s.number_of_instances = 0 then 'registered' else lower(replace(s.status::text, '_', '-')) end as fhir_status,
           s.modalities_in_study, s.number_of_series, s.number_of_instances
    from imaging_studies s`);
  await knex.raw(`create view fhir_imaging_series_rows as
    select se.id, se.tenant_id, se.study_id, se.series_uid, se.series_number, se.modality, se.series_description, se.number_of_instances,
           case when bp.code is not null then '${SNOMED}' when se.body_part_examined is not null then '${BODY_PART_SYSTEM}' end as body_site_system,
           coalesce(bp.code, se.body_part_examined) as body_site_code, coalesce(bp.display, se.body_part_examined) as body_site_display
    from imaging_series se left join (values ${valuesList(BODY_PARTS)}) as bp (term, code, display) on bp.term = se.body_part_examined
    where se.number_of_instances > 0`);
  await knex.raw(`create view fhir_imaging_instance_rows as
    select o.id, o.tenant_id, o.study_id, o.series_id, o.sop_instance_uid, o.sop_class_uid, o.instance_number
    from imaging_objects o where o.status = 'CREATED' and o.sop_instance_uid is not null and o.sop_class_uid is not null`);
  await knex.raw(`create view fhir_imaging_tooth_rows as
    select t.tenant_id, o.study_id, t.object_id, cusp_fhir_coding_system(t.code_system) as system, t.tooth_code as code, t.code_meaning as display
    from imaging_object_teeth t join fhir_imaging_instance_rows o on o.tenant_id = t.tenant_id and o.id = t.object_id`);
  await knex.raw(`grant select on ${ROW_VIEWS.filter((view) => view !== 'fhir_endpoint_rows').join(', ')} to ${PLATFORM_ROLE}`);

  const own = 'tenant_id = cusp_tenant_id()';
  await knex.raw(`create view fhir_imaging_studies as select * from fhir_imaging_study_rows where ${own}`);
  await knex.raw(`create view fhir_imaging_study_series as
    select tenant_id, study_id, series_uid, modality from fhir_imaging_series_rows where ${own}`);
  await knex.raw(`create view fhir_imaging_study_instances as
    select tenant_id, study_id, sop_instance_uid, 'urn:oid:' || sop_class_uid as sop_class from fhir_imaging_instance_rows where ${own}`);
  // The Study Instance UID as urn:dicom:uid (served by imaging_studies_uid_urn_idx), and the accession number, of type ACSN.
  await knex.raw(`create view fhir_imaging_study_identifiers as
    select s.tenant_id, s.id as study_id, 'urn:dicom:uid'::text as system, 'urn:oid:' || s.study_uid as value, null::text as type
    from imaging_studies s where s.${own}
    union all
    select s.tenant_id, s.id, null::text, s.accession_number, 'ACSN'::text
    from imaging_studies s where s.accession_number is not null and s.${own}`);
  // The body sites of fhir_imaging_series_rows, in a form whose conditions on the code reach
  // imaging_series_body_part_idx (a SNOMED code becomes the term it maps from).
  await knex.raw(`create view fhir_imaging_study_body_sites as
    select se.tenant_id, se.study_id, '${SNOMED}'::text as system, bp.code
    from imaging_series se join (values ${valuesList(BODY_PARTS.map(([term, code]) => [term, code]))}) as bp (term, code) on bp.term = se.body_part_examined
    where se.number_of_instances > 0 and se.${own}
    union all
    select se.tenant_id, se.study_id, '${BODY_PART_SYSTEM}'::text, se.body_part_examined
    from imaging_series se
    where se.number_of_instances > 0 and se.body_part_examined not in (${quoted(BODY_PARTS.map(([term]) => term))}) and se.${own}
    union all
    select tenant_id, study_id, system, code from fhir_imaging_tooth_rows where ${own}`);
  await knex.raw(`grant select on ${SEARCH_VIEWS.filter((view) => view !== 'fhir_endpoints').join(', ')} to ${TENANT_ROLE}, ${PLATFORM_ROLE}`);

  // Teeth are found by imaging_object_teeth_code_idx (migrations/020).
  await knex.raw("create index imaging_studies_uid_urn_idx on imaging_studies (tenant_id, ('urn:oid:' || study_uid))");
  await knex.raw('create index imaging_series_body_part_idx on imaging_series (tenant_id, body_part_examined)');
}

/** The snapshot function as this migration creates it (migrations/024 replaces it, and restores it on the way down). */
export const IMAGING_STUDY_SNAPSHOT_021 = `create or replace function cusp_imaging_study_snapshot(tenant uuid, study uuid) returns jsonb language plpgsql stable as $$
    begin
      return (
        with teeth as (
          select t.object_id, jsonb_agg(jsonb_build_object('system', t.system, 'code', t.code, 'display', t.display) order by t.system, t.code) as teeth
          from fhir_imaging_tooth_rows t where t.tenant_id = tenant and t.study_id = study
          group by t.object_id
        ), instances as (
          select i.series_id, jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
                   'sop_instance_uid', i.sop_instance_uid, 'sop_class_uid', i.sop_class_uid, 'instance_number', i.instance_number,
                   'teeth', teeth.teeth)) order by i.instance_number nulls last, i.sop_instance_uid) as instances
          from fhir_imaging_instance_rows i left join teeth on teeth.object_id = i.id
          where i.tenant_id = tenant and i.study_id = study
          group by i.series_id
        )
        select to_jsonb(s) || jsonb_build_object('_source', 'imaging_studies', '_children', jsonb_build_object('imaging_series', coalesce((
          select jsonb_agg(jsonb_build_object(
                   'series_uid', se.series_uid, 'series_number', se.series_number, 'modality', se.modality,
                   'series_description', se.series_description, 'number_of_instances', se.number_of_instances,
                   'body_site_system', se.body_site_system, 'body_site_code', se.body_site_code, 'body_site_display', se.body_site_display,
                   'instances', coalesce(instances.instances, '[]'::jsonb)) order by se.series_number nulls last, se.series_uid)
          from fhir_imaging_series_rows se left join instances on instances.series_id = se.id
          where se.tenant_id = s.tenant_id and se.study_id = s.id), '[]'::jsonb)))
        from fhir_imaging_study_rows s where s.tenant_id = tenant and s.id = study);
    end
  $$`;

async function imagingStudyHistory(knex: Knex): Promise<void> {
  // The rows of one version: the study, and under "_children" its shown series, each with its
  // instances, each with its teeth. PL/pgSQL rather than SQL, so that the plan is kept between
  // calls: it runs at the commit of every stored instance. Teeth and instances are grouped once
  // for the whole study rather than looked up per instance.
  await knex.raw(IMAGING_STUDY_SNAPSHOT_021);

  // As cusp_record_version (migrations/009), with the snapshot above; run as cusp_platform, so a
  // writer with no tenant set (plain SQL) records versions too.
  await knex.raw(`create function cusp_record_imaging_study() returns trigger language plpgsql
    security definer set search_path from current as $$
    declare
      snapshot jsonb;
    begin
      if tg_op = 'DELETE' then
        insert into resource_versions (tenant_id, resource_type, resource_id, version_id, last_updated, operation, snapshot)
        values (old.tenant_id, 'ImagingStudy', old.id, old.version_id + 1, now(), 'delete', null)
        on conflict (tenant_id, resource_type, resource_id, version_id) do nothing;
        return null;
      end if;
      if exists (select 1 from resource_versions v where v.tenant_id = new.tenant_id and v.resource_type = 'ImagingStudy'
                 and v.resource_id = new.id and v.version_id = new.version_id) then
        return null;
      end if;
      snapshot := cusp_imaging_study_snapshot(new.tenant_id, new.id);
      if snapshot is null then
        return null; -- deleted later in the same transaction; its delete event records that
      end if;
      insert into resource_versions (tenant_id, resource_type, resource_id, version_id, last_updated, operation, snapshot)
      values (new.tenant_id, 'ImagingStudy', new.id, (snapshot ->> 'version_id')::bigint, (snapshot ->> 'last_updated')::timestamptz,
              case when tg_op = 'INSERT' then 'create' else 'update' end, snapshot)
      on conflict (tenant_id, resource_type, resource_id, version_id) do nothing;
      return null;
    end
  $$`);
  await knex.raw(`create constraint trigger imaging_studies_record_version after insert or update or delete on imaging_studies
    deferrable initially deferred for each row execute function cusp_record_imaging_study()`);

  const touchStudy = "execute function cusp_touch_parent('imaging_studies', 'study_id')";
  const shownObject = ['status', 'study_id', 'series_id', 'sop_instance_uid', 'sop_class_uid', 'instance_number'];
  await knex.raw(`create trigger imaging_objects_touch_study_insert after insert on imaging_objects for each row
    when (new.status = 'CREATED') ${touchStudy}`);
  await knex.raw(`create trigger imaging_objects_touch_study_update after update on imaging_objects for each row
    when ((old.status = 'CREATED' or new.status = 'CREATED')
          and (${shownObject.map((c) => `old.${c}`).join(', ')}) is distinct from (${shownObject.map((c) => `new.${c}`).join(', ')})) ${touchStudy}`);
  await knex.raw(`create trigger imaging_objects_touch_study_delete after delete on imaging_objects for each row
    when (old.status = 'CREATED') ${touchStudy}`);

  const shownSeries = ['study_id', 'series_uid', 'series_number', 'modality', 'series_description', 'body_part_examined', 'number_of_instances'];
  await knex.raw(`create trigger imaging_series_touch_study_insert after insert on imaging_series for each row
    when (new.number_of_instances > 0) ${touchStudy}`);
  await knex.raw(`create trigger imaging_series_touch_study_update after update on imaging_series for each row
    when ((old.number_of_instances > 0 or new.number_of_instances > 0)
          and (${shownSeries.map((c) => `old.${c}`).join(', ')}) is distinct from (${shownSeries.map((c) => `new.${c}`).join(', ')})) ${touchStudy}`);
  await knex.raw(`create trigger imaging_series_touch_study_delete after delete on imaging_series for each row
    when (old.number_of_instances > 0) ${touchStudy}`);

  // A tooth belongs to an object, which belongs to the study: touch the study when the object is shown.
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

const endpointSnapshot = (alias: string) => `to_jsonb(${alias}) || jsonb_build_object('_children', '{}'::jsonb, '_source', 'tenants')`;

async function endpoints(knex: Knex): Promise<void> {
  // What the Endpoint shows besides its address is the same for every tenant (src/fhir/mappings/endpoint.ts).
  await knex.raw(`create view fhir_endpoint_rows as
    select t.id, t.id as tenant_id, 1::bigint as version_id, t.created_at as last_updated, 'tenants'::text as source_table,
           null::jsonb as fhir_residual, 'active'::text as status, 'dicom-wado-rs'::text as connection_type, 'DICOMweb'::text as name,
           t.id as managing_organization_id
    from tenants t`);
  await knex.raw(`grant select on fhir_endpoint_rows to ${PLATFORM_ROLE}`);
  await knex.raw('create view fhir_endpoints as select * from fhir_endpoint_rows where tenant_id = cusp_tenant_id()');
  await knex.raw(`grant select on fhir_endpoints to ${TENANT_ROLE}, ${PLATFORM_ROLE}`);

  await knex.raw(`create function cusp_record_tenant_endpoint() returns trigger language plpgsql
    security definer set search_path from current as $$
    begin
      insert into resource_versions (tenant_id, resource_type, resource_id, version_id, last_updated, operation, snapshot)
      select e.tenant_id, 'Endpoint', e.id, e.version_id, e.last_updated, 'create', ${endpointSnapshot('e')}
      from fhir_endpoint_rows e where e.id = new.id
      on conflict (tenant_id, resource_type, resource_id, version_id) do nothing;
      return null;
    end
  $$`);
  await knex.raw(`create trigger tenants_record_endpoint after insert on tenants
    for each row execute function cusp_record_tenant_endpoint()`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop trigger if exists tenants_record_endpoint on tenants');
  await knex.raw('drop function if exists cusp_record_tenant_endpoint()');
  await knex.raw("delete from resource_versions where resource_type in ('ImagingStudy', 'Endpoint')");
  await knex.raw('drop trigger if exists imaging_object_teeth_touch_study on imaging_object_teeth');
  await knex.raw('drop function if exists cusp_touch_imaging_study_of_tooth()');
  for (const table of ['imaging_objects', 'imaging_series']) {
    for (const op of ['insert', 'update', 'delete']) await knex.raw(`drop trigger if exists ${table}_touch_study_${op} on ${table}`);
  }
  await knex.raw('drop trigger if exists imaging_studies_record_version on imaging_studies');
  await knex.raw('drop function if exists cusp_record_imaging_study()');
  await knex.raw('drop function if exists cusp_imaging_study_snapshot(uuid, uuid)');
  for (const view of [...SEARCH_VIEWS, ...[...ROW_VIEWS].reverse()]) await knex.raw(`drop view if exists ${view}`);
  await knex.raw('drop function if exists cusp_fhir_coding_system(text)');
  for (const index of INDEXES) await knex.raw(`drop index if exists ${index}`);
  await knex.raw('drop trigger if exists imaging_studies_started on imaging_studies');
  await knex.raw('drop function if exists cusp_set_imaging_study_started()');
  await knex.raw('drop function if exists cusp_fhir_started(date, text, text)');
  await knex.schema.alterTable('imaging_studies', (t) => {
    t.dropColumns('fhir_started', 'fhir_started_start', 'fhir_started_end');
  });
}
