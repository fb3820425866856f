// Group commit: what callers submit while a batch is being written joins the next batch, so that
// concurrent callers share one transaction (and one WAL flush) rather than queue for one each.
// Batches of one key (a tenant, say) are written one after another; batches of different keys
// may be written at the same time.

interface Pending<Item, Result> {
  item: Item;
  resolve(result: Result | Promise<Result>): void;
  reject(error: unknown): void;
}

interface Queue<Item, Result> {
  pending: Pending<Item, Result>[];
  draining: Promise<void>;
}

/**
 * Writes a batch; answers one result per item, in the items' order (a rejected promise fails its
 * item alone). A throw fails every item of the batch.
 */
export type BatchWriter<Item, Result> = (key: string, items: Item[]) => Promise<(Result | Promise<Result>)[]>;

export class GroupCommit<Item, Result> {
  private readonly queues = new Map<string, Queue<Item, Result>>();
  private written = 0;

  constructor(private readonly write: BatchWriter<Item, Result>, private readonly maxBatch: number) {}

  /** Number of batches written so far. */
  get batchCount(): number {
    return this.written;
  }

  /** Resolves with the item's result once the batch that holds it is written. */
  submit(key: string, item: Item): Promise<Result> {
    return new Promise<Result>((resolve, reject) => {
      const queue = this.queues.get(key);
      if (queue) {
        queue.pending.push({ item, resolve, reject });
        return;
      }
      const started: Queue<Item, Result> = { pending: [{ item, resolve, reject }], draining: Promise.resolve() };
      this.queues.set(key, started);
      started.draining = this.drain(key, started);
    });
  }

  /** Waits until everything submitted so far is written. */
  async settled(): Promise<void> {
    while (this.queues.size > 0) await Promise.all([...this.queues.values()].map((queue) => queue.draining));
  }

  private async drain(key: string, queue: Queue<Item, Result>): Promise<void> {
    // Let the callers of the current tick join the first batch.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (queue.pending.length > 0) {
      const batch = queue.pending.splice(0, this.maxBatch);
      this.written += 1;
      try {
        const results = await this.write(key, batch.map((pending) => pending.item));
        batch.forEach((pending, index) => pending.resolve(results[index]!));
      } catch (error) {
        for (const pending of batch) pending.reject(error);
      }
    }
    this.queues.delete(key);
  }
}
