// History and search support for the FHIR Observation mapping (src/fhir/mappings/observation.ts),
// whose resources lie in two tables: vital_signs (one row, one set of measurements taken
// together) and perio_measurements (one row, one probing site of one tooth).
//
// - Both tables record Observation versions.
// - vital_signs.fhir_code is the Observation.code a row renders to: the single vital sign's
//   LOINC code when exactly one measurement other than blood pressure is set, the blood
//   pressure panel when only systolic and diastolic are, the vital signs panel otherwise.
// - fhir_observations is what search reads: both tables under common column names. Views run
//   with their owner's rights, so the row-level security of the tables does not apply through
//   them: every branch filters on cusp_tenant_id() itself, as the tables' policies do.
// - fhir_observation_codes and fhir_observation_component_codes list every coding of
//   Observation.code and Observation.component.code (an SpO2 carries two LOINC codes), for
//   the code and component-code searches, which match them as child rows.
//
// The codes here are those of the mapping; test/fhir-observation.test.ts checks that a search
// by each finds what the mapping renders.
import type { Knex } from 'knex';
import { PLATFORM_ROLE, TENANT_ROLE, enableResourceHistory } from './_schema.ts';

const LOINC = 'http://loinc.org';
const PERIO = 'https://cusp.dental/fhir/CodeSystem/perio';
const SPO2_PULSE_OXIMETRY = '59408-5';

/** Measurements other than blood pressure: column, LOINC code, UCUM unit (https://hl7.org/fhir/R4/observation-vitalsigns.html). */
const VITALS: [column: string, code: string, unit: string][] = [
  ['heart_rate', '8867-4', '/min'], ['respiratory_rate', '9279-1', '/min'], ['temperature_c', '8310-5', 'Cel'],
  ['spo2', '2708-6', '%'], ['weight_kg', '29463-7', 'kg'], ['height_cm', '8302-2', 'cm'], ['bmi', '39156-5', 'kg/m2'],
];
const BLOOD_PRESSURE: [column: string, code: string][] = [['systolic_bp', '8480-6'], ['diastolic_bp', '8462-4']];
const BP_PANEL = '85354-9';
const VITALS_PANEL = '85353-1';
const PERIO_COMPONENTS: [column: string, code: string][] = [
  ['pocket_depth_mm', 'pocket-depth'], ['gingival_margin_mm', 'gingival-margin'], ['bleeding_on_probing', 'bleeding-on-probing'],
  ['mobility_grade', 'mobility'], ['furcation_involvement', 'furcation'],
];

const VIEWS = ['fhir_observation_component_codes', 'fhir_observation_codes', 'fhir_observations'];
const INDEXES = ['vital_signs_fhir_code_idx', 'vital_signs_measured_at_idx', 'perio_measurements_measured_at_idx'];

const others = VITALS.map(([column]) => column).join(', ');
const singleCode = `case ${VITALS.map(([column, code]) => `when ${column} is not null then '${code}'`).join(' ')} end`;
const byCode = (value: (column: string, unit: string) => string) =>
  `case v.fhir_code ${VITALS.map(([column, code, unit]) => `when '${code}' then ${value(column, unit)}`).join(' ')} end`;

/** The query of the fhir_observations view; `shared` are further columns of both tables, appended (migrations/018). */
export const observationsQuery = (shared: string[] = []) => `
    select v.id, v.tenant_id, v.version_id, v.last_updated, null::timestamptz as deleted_at, 'vital_signs'::text as source_table,
           v.patient_id, v.encounter_id, v.recorded_by_id, v.measured_at, 'vital-signs'::text as category,
           ${byCode((column) => `v.${column}::numeric`)} as value_quantity, ${byCode((_, unit) => `'${unit}'`)} as value_unit${shared.map((column) => `, v.${column}`).join('')}
    from vital_signs v where v.tenant_id = cusp_tenant_id()
    union all
    select p.id, p.tenant_id, p.version_id, p.last_updated, null::timestamptz, 'perio_measurements'::text,
           p.patient_id, p.encounter_id, null::uuid, p.measured_at, 'exam'::text, null::numeric, null::text${shared.map((column) => `, p.${column}`).join('')}
    from perio_measurements p where p.tenant_id = cusp_tenant_id()`;

export async function up(knex: Knex): Promise<void> {
  await enableResourceHistory(knex, { table: 'vital_signs', resourceType: 'Observation' });
  await enableResourceHistory(knex, { table: 'perio_measurements', resourceType: 'Observation' });

  await knex.raw(`alter table vital_signs add column fhir_code text generated always as (case
      when systolic_bp is null and diastolic_bp is null and num_nonnulls(${others}) = 1 then ${singleCode}
      when systolic_bp is not null and diastolic_bp is not null and num_nonnulls(${others}) = 0 then '${BP_PANEL}'
      else '${VITALS_PANEL}' end) stored`);
  await knex.raw("comment on column vital_signs.fhir_code is 'the LOINC code of the FHIR Observation this row is (src/fhir/mappings/observation.ts)'");

  await knex.raw(`create view fhir_observations as ${observationsQuery()}`);

  await knex.raw(`create view fhir_observation_codes as
    select v.tenant_id, v.id as observation_id, '${LOINC}'::text as system, v.fhir_code as code
    from vital_signs v where v.tenant_id = cusp_tenant_id()
    union all
    select v.tenant_id, v.id, '${LOINC}'::text, '${SPO2_PULSE_OXIMETRY}'::text
    from vital_signs v where v.fhir_code = '2708-6' and v.tenant_id = cusp_tenant_id()
    union all
    select p.tenant_id, p.id, '${PERIO}'::text, 'perio-site-exam'::text
    from perio_measurements p where p.tenant_id = cusp_tenant_id()`);

  const vitalComponents = [...BLOOD_PRESSURE, ...VITALS.map(([column, code]) => [column, code] as const), ['spo2', SPO2_PULSE_OXIMETRY] as const];
  await knex.raw(`create view fhir_observation_component_codes as
    select v.tenant_id, v.id as observation_id, '${LOINC}'::text as system, c.code
    from vital_signs v cross join lateral (values ${vitalComponents.map(([column, code]) => `('${code}', v.${column} is not null)`).join(', ')}) c(code, present)
    where c.present and v.fhir_code in ('${BP_PANEL}', '${VITALS_PANEL}') and v.tenant_id = cusp_tenant_id()
    union all
    select p.tenant_id, p.id, '${PERIO}'::text, c.code
    from perio_measurements p cross join lateral (values ${PERIO_COMPONENTS.map(([column, code]) => `('${code}', p.${column} is not null)`).join(', ')}) c(code, present)
    where c.present and p.tenant_id = cusp_tenant_id()`);

  await knex.raw(`grant select on ${VIEWS.join(', ')} to ${TENANT_ROLE}, ${PLATFORM_ROLE}`);

  // patient_id and encounter_id are indexed with their foreign keys (migrations/004).
  await knex.raw('create index vital_signs_fhir_code_idx on vital_signs (tenant_id, fhir_code)');
  await knex.raw('create index vital_signs_measured_at_idx on vital_signs (tenant_id, measured_at)');
  await knex.raw('create index perio_measurements_measured_at_idx on perio_measurements (tenant_id, measured_at)');
}

export async function down(knex: Knex): Promise<void> {
  for (const index of INDEXES) await knex.raw(`drop index if exists ${index}`);
  for (const view of VIEWS) await knex.raw(`drop view if exists ${view}`);
  await knex.raw('alter table vital_signs drop column if exists fhir_code');
  for (const table of ['perio_measurements', 'vital_signs']) {
    await knex.raw(`drop trigger if exists ${table}_record_version on ${table}`);
    await knex.raw(`alter table ${table} drop column if exists fhir_residual`);
  }
}
