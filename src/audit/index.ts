// Append-only audit trail (audit_events). A write's event is inserted in the write's own
// transaction; other events (reads, token grants) are group-committed: concurrent events share
// one INSERT, and each caller's promise resolves only once its row is durable, so a response
// is never sent before its audit record is.
import type { Database, Transaction } from '../db/index.ts';
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

interface Pending {
  row: ReturnType<typeof toRow>;
  resolve(): void;
  reject(error: unknown): void;
}

const MAX_BATCH = 500;

export class AuditLog {
  private queue: Pending[] = [];
  private flushing: Promise<void> | undefined;
  private flushes = 0;

  constructor(private readonly db: Database, private readonly logger: Logger) {}

  /** Number of batch transactions so far (exposed for tests and metrics). */
  get batchCount(): number {
    return this.flushes;
  }

  /** Records an event in the caller's transaction: it commits or rolls back with the write. */
  async recordInTransaction(trx: Transaction, event: AuditEvent): Promise<void> {
    await trx('audit_events').insert(toRow(event));
  }

  /** Records an event durably, batched with concurrent ones; resolves once committed. */
  record(event: AuditEvent): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ row: toRow(event), resolve, reject });
      if (!this.flushing) this.flushing = this.drain();
    });
  }

  /** Waits for every queued event to be written. */
  async drainAll(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  private async drain(): Promise<void> {
    // Let the current tick's callers join the first batch.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, MAX_BATCH);
      this.flushes += 1;
      try {
        await this.db.platform((trx) => trx('audit_events').insert(batch.map((p) => p.row)));
        for (const pending of batch) pending.resolve();
      } catch (error) {
        this.logger.error({ err: error, events: batch.length }, 'audit batch failed');
        for (const pending of batch) pending.reject(error);
      }
    }
    this.flushing = undefined;
  }
}
