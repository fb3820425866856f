// Where each BulkDataURI value of a stored instance lies in its blob, so a bulkdata request reads
// that byte range (as frame_offsets does for frames) instead of parsing the object again.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('imaging_objects', (t) => {
    t.jsonb('bulk_data').comment('BulkDataLocation[] of src/dicom: reference (tag path), vr, offset, length, encapsulated');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('imaging_objects', (t) => {
    t.dropColumn('bulk_data');
  });
}
