// A tenant's rows may name only users who are members of that tenant (user_tenants). Users are
// global, so the foreign keys to users cannot say this: a trigger on each tenant-scoped table
// that references users does, raising a foreign-key violation otherwise. user_tenants, which
// defines membership, is the one table left out.
import type { Knex } from 'knex';

interface UserReference { table: string; column: string }

export async function userReferences(knex: Knex): Promise<UserReference[]> {
  const { rows } = await knex.raw<{ rows: UserReference[] }>(`
    select c.conrelid::regclass::text as table, a.attname as column
    from pg_constraint c
    join pg_attribute a on a.attrelid = c.conrelid and a.attnum = c.conkey[1]
    where c.contype = 'f' and c.confrelid = 'users'::regclass and array_length(c.conkey, 1) = 1
      and c.conrelid <> 'user_tenants'::regclass
      and exists (select 1 from pg_attribute t where t.attrelid = c.conrelid and t.attname = 'tenant_id' and t.attnotnull and not t.attisdropped)
    order by 1, 2`);
  return rows;
}

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`create function cusp_require_membership() returns trigger language plpgsql as $$
    declare
      named_user uuid := (to_jsonb(new) ->> tg_argv[0])::uuid;
    begin
      if named_user is not null and not exists (
        select 1 from user_tenants m where m.tenant_id = new.tenant_id and m.user_id = named_user) then
        raise exception '%.% names a user who is not a member of this tenant', tg_table_name, tg_argv[0]
          using errcode = '23503';
      end if;
      return new;
    end
  $$`);
  for (const { table, column } of await userReferences(knex)) {
    await knex.raw(`create trigger ${table}_${column}_member before insert or update of ${column} on ${table}
      for each row execute function cusp_require_membership('${column}')`);
  }
}

export async function down(knex: Knex): Promise<void> {
  for (const { table, column } of await userReferences(knex)) await knex.raw(`drop trigger if exists ${table}_${column}_member on ${table}`);
  await knex.raw('drop function if exists cusp_require_membership()');
}
