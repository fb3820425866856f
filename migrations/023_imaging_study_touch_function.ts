// The triggers by which stored instances and series touch their study (a new ImagingStudy version,
// migrations/021) call a function written for imaging_studies rather than the generic
// cusp_touch_parent: that one turned the whole old and new rows into JSON to read one column —
// the instance's DICOM JSON with it — and planned a dynamic UPDATE on every row. The triggers
// keep their events and WHEN conditions; only the function they execute changes.
import type { Knex } from 'knex';

const GENERIC = "cusp_touch_parent('imaging_studies', 'study_id')";
const DEDICATED = 'cusp_touch_imaging_study()';
const TABLES = ['imaging_objects', 'imaging_series'];

export async function up(knex: Knex): Promise<void> {
  // Both tables carry tenant_id and study_id; plpgsql compiles the function for each table apart.
  await knex.raw(`create function cusp_touch_imaging_study() returns trigger language plpgsql as $$
    begin
      if tg_op in ('UPDATE', 'DELETE') then
        update imaging_studies set version_id = version_id
        where tenant_id = old.tenant_id and id = old.study_id and version_txid <> txid_current();
      end if;
      if tg_op = 'INSERT' or (tg_op = 'UPDATE' and old.study_id is distinct from new.study_id) then
        update imaging_studies set version_id = version_id
        where tenant_id = new.tenant_id and id = new.study_id and version_txid <> txid_current();
      end if;
      return null;
    end
  $$`);
  await swapTriggerFunction(knex, 'cusp_touch_parent', GENERIC, DEDICATED);
}

export async function down(knex: Knex): Promise<void> {
  await swapTriggerFunction(knex, 'cusp_touch_imaging_study', DEDICATED, GENERIC);
  await knex.raw('drop function cusp_touch_imaging_study()');
}

/** Recreates the triggers of TABLES that execute `from` (a function name) to execute `to` instead. */
async function swapTriggerFunction(knex: Knex, fromFunction: string, from: string, to: string): Promise<void> {
  const { rows } = await knex.raw(`select t.tgname as name, c.relname as "table", pg_get_triggerdef(t.oid) as definition
    from pg_trigger t join pg_class c on c.oid = t.tgrelid join pg_proc p on p.oid = t.tgfoid
    where not t.tgisinternal and p.proname = ? and c.relname = any(?) order by t.tgname`, [fromFunction, TABLES]) as {
    rows: { name: string; table: string; definition: string }[];
  };
  if (rows.length !== 6) throw new Error(`expected six study touch triggers on ${TABLES.join(' and ')}, found ${rows.length}`);
  for (const { name, table, definition } of rows) {
    if (!definition.includes(`EXECUTE FUNCTION ${from}`)) throw new Error(`trigger ${name} does not execute ${from}: ${definition}`);
    await knex.raw(`drop trigger ${name} on ${table}`);
    await knex.raw(definition.replace(`EXECUTE FUNCTION ${from}`, `EXECUTE FUNCTION ${to}`));
  }
}
