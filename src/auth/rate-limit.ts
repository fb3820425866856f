// Per-client rate limit in fixed one-minute windows, shared by every server process through
// PostgreSQL without a database round trip per request: each process counts locally and,
// every RATE_LIMIT_SYNC_MS, adds its new counts to rate_limit_windows in one statement that
// returns the cluster-wide totals. Between two syncs a process decides from the last known
// total plus its own unsynced count, so the cluster can overshoot a limit by at most what the
// other processes admitted during one sync interval. A client first seen by a process in a
// window triggers an immediate sync, so a new process learns the shared count at once.
import type { Database } from '../db/index.ts';
import type { Logger } from '../observability/logger.ts';

const WINDOW_MS = 60_000;

interface ClientWindow {
  windowStart: number;
  /** Cluster-wide count at the last sync (including this process's synced requests). */
  known: number;
  /** Requests admitted here since the last sync. */
  unsynced: number;
  /** Requests being written by a sync in flight. */
  inFlight: number;
}

export type RateDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number };

export class RateLimiter {
  private readonly windows = new Map<string, ClientWindow>();
  private timer: NodeJS.Timeout | undefined;
  private syncing: Promise<void> | undefined;
  private syncsSinceCleanup = 0;

  constructor(private readonly db: Database, private readonly logger: Logger, private readonly syncMs: number) {}

  start(): void {
    if (this.syncMs > 0 && !this.timer) {
      this.timer = setInterval(() => void this.sync(), this.syncMs);
      this.timer.unref();
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.sync();
  }

  /** Counts one request for `clientId` if it is within `limitPerMinute`. */
  take(clientId: string, limitPerMinute: number, now = Date.now()): RateDecision {
    const windowStart = now - (now % WINDOW_MS);
    let window = this.windows.get(clientId);
    if (!window || window.windowStart !== windowStart) {
      window = { windowStart, known: 0, unsynced: 0, inFlight: 0 };
      this.windows.set(clientId, window);
      // A client new to this process in this window: learn the cluster's count at once.
      queueMicrotask(() => void this.sync());
    }
    if (window.known + window.inFlight + window.unsynced >= limitPerMinute) {
      return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((windowStart + WINDOW_MS - now) / 1000)) };
    }
    window.unsynced += 1;
    return { allowed: true };
  }

  /** Publishes local counts and learns the cluster-wide ones. Safe to call at any time. */
  sync(): Promise<void> {
    this.syncing ??= this.publish().finally(() => {
      this.syncing = undefined;
    });
    return this.syncing;
  }

  private async publish(): Promise<void> {
    const current = Date.now() - (Date.now() % WINDOW_MS);
    for (const [clientId, window] of this.windows) if (window.windowStart < current) this.windows.delete(clientId);
    if (this.windows.size === 0) return;

    const entries = [...this.windows.entries()];
    for (const [, window] of entries) {
      window.inFlight = window.unsynced;
      window.unsynced = 0;
    }
    try {
      const totals = await this.db.platform(async (trx) => {
        const { rows } = await trx.raw<{ rows: { client_id: string; window_start: Date; request_count: number }[] }>(
          `insert into rate_limit_windows (client_id, window_start, request_count)
           select client_id, to_timestamp(window_ms / 1000.0), increment
           from unnest(?::uuid[], ?::bigint[], ?::bigint[]) as u(client_id, window_ms, increment)
           on conflict (client_id, window_start)
           do update set request_count = rate_limit_windows.request_count + excluded.request_count
           returning client_id, window_start, request_count`,
          [entries.map(([id]) => id), entries.map(([, w]) => w.windowStart), entries.map(([, w]) => w.inFlight)],
        );
        if (++this.syncsSinceCleanup >= 60) {
          this.syncsSinceCleanup = 0;
          await trx('rate_limit_windows').where('window_start', '<', new Date(current - 10 * WINDOW_MS)).delete();
        }
        return rows;
      });
      for (const row of totals) {
        const window = this.windows.get(row.client_id);
        if (window && window.windowStart === row.window_start.getTime()) window.known = row.request_count;
      }
      for (const [, window] of entries) window.inFlight = 0;
    } catch (error) {
      // Keep the counts for the next attempt rather than forgetting admitted requests.
      for (const [, window] of entries) {
        window.unsynced += window.inFlight;
        window.inFlight = 0;
      }
      this.logger.warn({ err: error }, 'rate limit sync failed');
    }
  }
}
