// Append-only audit trail (audit_events). A write's event is inserted in the write's own
// transaction; other events (reads, token grants) are group-committed: concurrent events share
// one INSERT, and each caller's promise resolves only once its row is durable, so a response
// is never sent before its audit record is.
import { GroupCommit } from '../db/group-commit.ts';
import type { Knex } from 'knex';
import type { Database, Transaction } from '../db/index.ts';
import { prepared } from '../db/prepared.ts';
import type { Logger } from '../observability/logger.ts';

export type AuditOutcome = 'SUCCESS' | 'FAILURE';

export interface AuditEvent {
  tenantId?: string | null;
  actorType: 'USER' | 'SYSTEM' | 'API_CLIENT';
  actorId?: string | null;
  userId?: string | null;
  eventType: string;
  resourceType?: string;
  resourceId?: string;
  requestId?: string;
  ipAddress?: string;
  userAgent?: string;
  outcome: AuditOutcome;
  metadata?: Record<string, unknown>;
}

function toRow(event: AuditEvent) {
  return {
    tenant_id: event.tenantId ?? null,
    actor_type: event.actorType,
    actor_id: event.actorId ?? null,
    user_id: event.userId ?? null,
    event_type: event.eventType,
    resource_type: event.resourceType ?? null,
    resource_id: event.resourceId ?? null,
    request_id: event.requestId ?? null,
    ip_address: event.ipAddress ?? null,
    user_agent: event.userAgent?.slice(0, 512) ?? null,
    outcome: event.outcome,
    metadata: event.metadata ?? null,
  };
}

const MAX_BATCH = 500;

/** One statement text for any number of rows, so that it is prepared once (src/db/prepared.ts). */
const COLUMNS = Object.keys(toRow({ actorType: 'SYSTEM', eventType: '', outcome: 'SUCCESS' }));
/**
 * The INSERT of the events given as its parameter (eventsParameter) that meet `condition`, on
 * `event`, their audit_events row: for a statement that records events only where its own
 * results say so, as a data-modifying CTE.
 */
export function insertEventsWhere(condition: string): string {
  return `insert into audit_events (${COLUMNS.join(', ')})
    select ${COLUMNS.join(', ')} from jsonb_populate_recordset(null::audit_events, ?::jsonb) as event where ${condition}`;
}

export function eventsParameter(events: AuditEvent[]): string {
  return JSON.stringify(events.map(toRow));
}

const INSERT_ROWS = insertEventsWhere('true');
const insertRows = (q: Knex, rows: ReturnType<typeof toRow>[]) => q.raw(INSERT_ROWS, [JSON.stringify(rows)]);

export class AuditLog {
  private readonly batches: GroupCommit<ReturnType<typeof toRow>, void>;

  constructor(private readonly db: Database, private readonly logger: Logger) {
    this.batches = new GroupCommit(async (_key, rows) => {
      try {
        await this.db.platformStatements((q) => insertRows(q, rows), INSERT_ROWS);
      } catch (error) {
        this.logger.error({ err: error, events: rows.length }, 'audit batch failed');
        throw error;
      }
      return rows.map(() => undefined);
    }, MAX_BATCH);
  }

  /** Number of batch transactions so far (exposed for tests and metrics). */
  get batchCount(): number {
    return this.batches.batchCount;
  }

  /** Records events in the caller's transaction: they commit or roll back with the write. */
  async recordInTransaction(trx: Transaction, events: AuditEvent | AuditEvent[]): Promise<void> {
    const rows = (Array.isArray(events) ? events : [events]).map(toRow);
    if (rows.length > 0) await prepared(insertRows(trx, rows), INSERT_ROWS);
  }

  /** Records an event durably, batched with concurrent ones; resolves once committed. */
  record(event: AuditEvent): Promise<void> {
    return this.batches.submit('', toRow(event));
  }

  /** Waits for every queued event to be written. */
  async drainAll(): Promise<void> {
    await this.batches.settled();
  }
}
