// A study's instances change one transaction at a time (ingest, DELETE), under the study's lock;
// what its row says about them — counts and ModalitiesInStudy — is derived from its series, whose
// counts the caller has brought up to date in the same transaction.
import type { Transaction } from '../db/index.ts';
import { prepared } from '../db/prepared.ts';

/** Until the transaction ends, no other store or deletion of study `studyUid` proceeds. */
export async function lockStudy(trx: Transaction, tenantId: string, studyUid: string): Promise<void> {
  await prepared(trx.raw(LOCK_STUDY, [`${tenantId}|study|${studyUid}`]), LOCK_STUDY);
}

const LOCK_STUDY = 'select pg_advisory_xact_lock(hashtextextended(?, 0))';

export async function refreshStudyAggregates(trx: Transaction, tenantId: string, studyIds: string[]): Promise<void> {
  if (studyIds.length === 0) return;
  await prepared(trx.raw(REFRESH_AGGREGATES, [tenantId, studyIds]), REFRESH_AGGREGATES);
}

const REFRESH_AGGREGATES = `update imaging_studies s set
      number_of_instances = (select coalesce(sum(se.number_of_instances), 0) from imaging_series se where se.tenant_id = s.tenant_id and se.study_id = s.id),
      number_of_series = (select count(*) from imaging_series se where se.tenant_id = s.tenant_id and se.study_id = s.id and se.number_of_instances > 0),
      modalities_in_study = coalesce((select array_agg(distinct se.modality order by se.modality) from imaging_series se
        where se.tenant_id = s.tenant_id and se.study_id = s.id and se.number_of_instances > 0 and se.modality is not null), '{}')
    where s.tenant_id = ? and s.id = any(?::uuid[])`;
