// A QIDO-RS search as one SQL query: the target level's table joined to its parents, the
// request's conditions on indexed columns, a stable order, and a select that assembles each
// result's DICOM JSON from the attributes precomputed at ingest (no instance file is read).
// GET /studies?PatientName=smith*&includefield=StudyDescription&limit=101 becomes
//
//   select st.id as "studyRowId", st.study_uid as "studyUid",
//     (?::jsonb                                   -- {"00080020":{"vr":"DA"},...}: required, empty when unknown
//      || jsonb_strip_nulls(jsonb_build_object('00080005', st.qido_attributes->'00080005', ...,
//                                              '00081030', st.qido_attributes->'00081030'))
//      || jsonb_build_object('00080056', ..., '00081190', jsonb_build_object('vr', 'UR', 'Value',
//           jsonb_build_array(? || '/studies/' || st.study_uid))))::text as json
//   from imaging_studies as st
//   where st.tenant_id = ? and st.number_of_instances > 0
//     and (lower(st.patient_name) like ? or lower(st.patient_name) like ?)   -- 'smith%', 'smith%=%'
//   order by st.study_date desc nulls last, st.study_time_key desc nulls last, st.study_uid
//   limit 102
import type { Knex } from 'knex';
import type { Reader } from '../db/statements.ts';
import { attributeNamed, ANATOMICAL_ORIENTATION_TYPE, LEVELS, PATIENT_GROUP, UPPER_LEVEL_TAGS, DEPTH, type QueryLevel } from './qido-attributes.ts';
import { INSTANCE, MODEL, SERIES, STUDY } from './qido-model.ts';
import type { QidoSearch, QidoTarget } from './qido-request.ts';

export interface QidoRow {
  /** imaging_studies.id, for the audit trail. */
  studyRowId: string;
  studyUid: string;
  seriesUid?: string;
  sopInstanceUid?: string;
  /** The result's DICOM JSON text. */
  json: string;
}

interface Fragment {
  sql: string;
  bindings: unknown[];
}

/** jsonb_build_object takes at most 100 arguments. */
const PAIRS_PER_CALL = 50;

function buildObject(entries: [tag: string, sql: string][]): string {
  const calls: string[] = [];
  for (let at = 0; at < entries.length; at += PAIRS_PER_CALL) {
    calls.push(`jsonb_build_object(${entries.slice(at, at + PAIRS_PER_CALL).map(([tag, sql]) => `'${tag}', ${sql}`).join(', ')})`);
  }
  return calls.length === 1 ? calls[0]! : `(${calls.join(' || ')})`;
}

/** The levels whose default attributes a target returns (PS3.18 10.6.3.3: all series and all instances add their parents'). */
function fullLevels(target: QidoTarget): Set<QueryLevel> {
  const levels = new Set<QueryLevel>([target.level]);
  if (target.level !== 'study' && !target.study) levels.add('study');
  if (target.level === 'instance' && !target.series) levels.add('series');
  return levels;
}

const joinedLevels = (target: QidoTarget) => LEVELS.filter((level) => DEPTH[level] <= DEPTH[target.level]);

/** Every instance-level attribute of an instance's stored DICOM JSON (includefield=all at the instance level). */
const INSTANCE_LEVEL_ATTRIBUTES = `coalesce((select jsonb_object_agg(a.key, a.value) from jsonb_each(o.dicom_json) a
  where a.key not in (${[...UPPER_LEVEL_TAGS].map((tag) => `'${tag}'`).join(', ')})
  and (a.key not like '${PATIENT_GROUP}%' or a.key = '${ANATOMICAL_ORIENTATION_TYPE}')), '{}'::jsonb)`;

const ALL_ATTRIBUTES: Record<QueryLevel, string> = {
  study: `coalesce(st.qido_attributes, '{}'::jsonb)`,
  series: `coalesce(se.qido_attributes, '{}'::jsonb)`,
  instance: INSTANCE_LEVEL_ATTRIBUTES,
};

/** The DICOM JSON of one result, as SQL over the joined rows. */
function resultJson(search: QidoSearch, baseUrl: string): Fragment {
  const full = fullLevels(search.target);
  const parts: string[] = [];
  const bindings: unknown[] = [];
  for (const level of joinedLevels(search.target)) {
    const model = MODEL[level];
    const included = search.include[level];
    const computed = model.computed.filter((attribute) => full.has(level) || included.has(attribute.tag));
    const computedTags = new Set(model.computed.map(({ tag }) => tag));
    const picked = new Map<string, string>();
    const empty: Record<string, { vr: string }> = {};

    const defaults = full.has(level) ? model.required : model.required.filter(({ tag }) => tag === model.uid);
    for (const { tag, vr, whenPresent } of defaults) {
      picked.set(tag, model.returned);
      if (!whenPresent) empty[tag] = { vr };
    }
    for (const tag of included) {
      if (computedTags.has(tag) || picked.has(tag)) continue;
      picked.set(tag, model.attributes);
      empty[tag] = { vr: attributeNamed(tag)!.vr };
    }

    if (Object.keys(empty).length > 0) {
      parts.push('?::jsonb');
      bindings.push(JSON.stringify(empty));
    }
    parts.push(`jsonb_strip_nulls(${buildObject([...picked].map(([tag, source]) => [tag, `${source}->'${tag}'`]))})`);
    if (search.includeAll && level === search.target.level) parts.push(ALL_ATTRIBUTES[level]);
    if (computed.length > 0) {
      parts.push(buildObject(computed.map(({ tag, sql }) => [tag, sql])));
      for (const attribute of computed) if (attribute.usesBaseUrl) bindings.push(baseUrl);
    }
  }
  return { sql: `(${parts.join(' || ')})::text`, bindings };
}

function order(target: QidoTarget): string[] {
  return [
    ...(target.study ? [] : STUDY.order),
    ...(target.level !== 'study' && !target.series ? SERIES.order : []),
    ...(target.level === 'instance' ? INSTANCE.order : []),
  ];
}

/** The matching rows of a search, without order or select: one query for the results, one for counting them. */
function matching(trx: Knex, tenantId: string, search: QidoSearch): Knex.QueryBuilder {
  const { target } = search;
  const model = MODEL[target.level];
  const query = trx(`${model.table} as ${model.alias}`);
  if (target.level === 'series') {
    query.join('imaging_studies as st', (on) => on.on('st.tenant_id', 'se.tenant_id').andOn('st.id', 'se.study_id'));
  } else if (target.level === 'instance') {
    query.join('imaging_series as se', (on) => on.on('se.tenant_id', 'o.tenant_id').andOn('se.id', 'o.series_id'))
      .join('imaging_studies as st', (on) => on.on('st.tenant_id', 'o.tenant_id').andOn('st.id', 'o.study_id'));
  }
  query.where(`${model.alias}.tenant_id`, tenantId).whereRaw(model.visible);
  if (target.study) query.where('st.study_uid', target.study);
  if (target.series) query.where('se.series_uid', target.series);
  for (const condition of search.conditions) query.whereRaw(`(${condition.sql})`, condition.bindings as Knex.RawBinding[]);
  return query;
}

/** What the SQL text of matching() depends on. */
function shape({ target, conditions }: QidoSearch): string {
  return ['qido', target.level, target.study ? 'study' : '', target.series ? 'series' : '', ...conditions.map((condition) => condition.sql)].join('\n');
}

export interface QidoQuery {
  /** Up to `limit` results from the search's offset, in the default order. */
  results(limit: number): Promise<QidoRow[]>;
  /** How many rows match, all pages together. */
  count(): Promise<number>;
}

/** The search's queries, each run by `read` as a statement of its own. */
export function qidoQuery(read: Reader, tenantId: string, search: QidoSearch, baseUrl: string): QidoQuery {
  const json = resultJson(search, baseUrl);
  const level = search.target.level;
  const columns = [
    'st.id as studyRowId', 'st.study_uid as studyUid',
    ...(level !== 'study' ? ['se.series_uid as seriesUid'] : []),
    ...(level === 'instance' ? ['o.sop_instance_uid as sopInstanceUid'] : []),
  ];
  return {
    results(limit) {
      // knex leaves out OFFSET 0, so whether there is an offset is part of the shape.
      return read<QidoRow>((q) => matching(q, tenantId, search)
        .select(columns)
        .select(q.raw(`${json.sql} as json`, json.bindings as Knex.RawBinding[]))
        .orderByRaw(order(search.target).join(', '))
        .limit(limit)
        .offset(search.offset), `${shape(search)}\n${json.sql}\n${search.offset > 0 ? 'offset' : ''}`);
    },
    async count() {
      const [row] = await read<{ count: number | string }>((q) => matching(q, tenantId, search).count({ count: '*' }), `${shape(search)}\ncount`);
      return Number(row!.count);
    },
  };
}
