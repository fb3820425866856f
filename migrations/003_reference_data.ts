// Section IX.1 of the primary schema: global reference data and code systems (ICD-10, SNOMED,
// CDT, DICOM, internal codes) and master data for drugs, dental materials and devices. Made
// before the clinical tables, which reference them.
import type { Knex } from 'knex';
import { createGlobalTable, dropTables, globalRef } from './_schema.ts';

const TABLES = ['code_systems', 'code_values', 'drug_reference', 'material_reference', 'equipment_reference'];

export async function up(knex: Knex): Promise<void> {
  await createGlobalTable(knex, 'code_systems', (t) => {
    t.text('code').notNullable().unique().comment('short name, e.g. ICD10, SNOMED, CDT, DICOM, LOINC, INTERNAL');
    t.text('uri').unique().comment('canonical system URI, e.g. http://snomed.info/sct');
    t.text('name').notNullable();
    t.text('version');
    t.text('publisher');
    t.text('description');
  }, { timestamps: true });

  await createGlobalTable(knex, 'code_values', (t) => {
    globalRef(t, 'code_system_id', 'code_systems', { nullable: false, onDelete: 'CASCADE' });
    t.text('code').notNullable();
    t.text('display').notNullable();
    t.text('description');
    globalRef(t, 'parent_id', 'code_values');
    t.boolean('is_active').notNullable().defaultTo(true);
    t.jsonb('properties');
    t.unique(['code_system_id', 'code']);
  }, { timestamps: true });

  await createGlobalTable(knex, 'drug_reference', (t) => {
    t.text('name').notNullable();
    t.text('generic_name');
    t.text('rxnorm_code');
    t.text('ndc_code');
    t.text('atc_code');
    t.text('drug_class');
    t.text('form');
    t.text('strength');
    t.jsonb('interactions');
    t.boolean('is_active').notNullable().defaultTo(true);
    t.index(['rxnorm_code']);
  }, { timestamps: true });

  await createGlobalTable(knex, 'material_reference', (t) => {
    t.text('name').notNullable();
    t.text('category').comment('e.g. COMPOSITE, AMALGAM, CERAMIC, IMPLANT, CEMENT');
    t.text('manufacturer');
    t.text('product_code');
    t.text('udi').comment('unique device identifier, where the material has one');
    t.jsonb('composition');
    t.boolean('is_active').notNullable().defaultTo(true);
  }, { timestamps: true });

  await createGlobalTable(knex, 'equipment_reference', (t) => {
    t.text('name').notNullable();
    t.text('equipment_type').comment('e.g. INTRAORAL_SENSOR, PANORAMIC, CBCT, INTRAORAL_SCANNER, CAMERA');
    t.text('manufacturer');
    t.text('model');
    t.text('udi');
    t.text('dicom_modality').comment('DICOM modality code the device produces, e.g. IO, PX, CT');
    t.jsonb('specifications');
    t.boolean('is_active').notNullable().defaultTo(true);
  }, { timestamps: true });
}

export async function down(knex: Knex): Promise<void> {
  await dropTables(knex, TABLES);
}
