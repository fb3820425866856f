// A study's instances change one transaction at a time (ingest, DELETE), under the study's lock;
// what its row says about them — counts and ModalitiesInStudy — is derived from its series, whose
// counts the caller has brought up to date in the same transaction. Both are statements for the
// caller's transaction (runIn) or pipeline (Database.tenantStatements).
import type { ShapedStatement } from '../db/statements.ts';

/**
 * Until the transaction ends, no other store or deletion of these studies proceeds. Taken in UID
 * order, so that two transactions locking some of the same studies never wait for each other.
 */
export function lockStudies(tenantId: string, studyUids: string[]): ShapedStatement {
  const keys = [...new Set(studyUids)].sort().map((uid) => `${tenantId}|study|${uid}`);
  return { query: (q) => q.raw(LOCK_STUDIES, [keys]), shape: LOCK_STUDIES };
}

const LOCK_STUDIES = `select pg_advisory_xact_lock(hashtextextended(lock.key, 0))
  from unnest(?::text[]) with ordinality as lock (key, position) order by lock.position`;

export function refreshStudyAggregates(tenantId: string, studyIds: string[]): ShapedStatement {
  return { query: (q) => q.raw(REFRESH_AGGREGATES, [tenantId, studyIds]), shape: REFRESH_AGGREGATES };
}

const REFRESH_AGGREGATES = `update imaging_studies s set
      number_of_instances = (select coalesce(sum(se.number_of_instances), 0) from imaging_series se where se.tenant_id = s.tenant_id and se.study_id = s.id),
      number_of_series = (select count(*) from imaging_series se where se.tenant_id = s.tenant_id and se.study_id = s.id and se.number_of_instances > 0),
      modalities_in_study = coalesce((select array_agg(distinct se.modality order by se.modality) from imaging_series se
        where se.tenant_id = s.tenant_id and se.study_id = s.id and se.number_of_instances > 0 and se.modality is not null), '{}')
    where s.tenant_id = ? and s.id = any(?::uuid[])`;
