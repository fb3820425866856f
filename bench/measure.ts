// Timing loops shared by the bench scripts: each measurement is printed as one JSON line.

export interface Measurement {
  name: string;
  /** Units per second: operations, or what each operation said it counts for (e.g. instances). */
  perSecond: number;
  /** Megabytes (10^6) per second, when the operations moved bytes. */
  MBps?: number;
  p50ms: number;
  p99ms: number;
  /** Operations that failed (they count neither units nor bytes), and the first failure's message. */
  errors?: number;
  firstError?: string;
}

/** What one operation did: how many units it counts for (1 when not said) and how many bytes it moved. */
export interface Work {
  units?: number;
  bytes?: number;
}

export type Operation = () => Promise<Work | void>;

export interface LoopOptions {
  concurrency: number;
  durationMs: number;
  /** Run the loops this long first, unmeasured (JIT, connection pools, caches). */
  warmupMs?: number;
  /** Extra fields printed before the figures (e.g. which server). */
  labels?: Record<string, string>;
}

class Tally {
  readonly latencies: number[] = [];
  units = 0;
  bytes = 0;
  errors = 0;
  firstError?: string;
  private readonly started = process.hrtime.bigint();

  /** Runs one operation and records its latency and work; a thrown error is counted, not raised. */
  async time(operation: Operation): Promise<void> {
    const started = process.hrtime.bigint();
    try {
      const work = await operation();
      this.latencies.push(Number(process.hrtime.bigint() - started) / 1e6);
      this.units += work?.units ?? 1;
      this.bytes += work?.bytes ?? 0;
    } catch (error) {
      this.errors += 1;
      this.firstError ??= error instanceof Error ? error.message : String(error);
    }
  }

  summary(name: string, labels: Record<string, string> = {}): Measurement & Record<string, unknown> {
    const seconds = Number(process.hrtime.bigint() - this.started) / 1e9;
    const sorted = [...this.latencies].sort((x, y) => x - y);
    const percentile = (p: number) => Number((sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN).toFixed(2));
    return {
      ...labels,
      name,
      perSecond: Number((this.units / seconds).toFixed(this.units / seconds < 100 ? 1 : 0)),
      ...(this.bytes > 0 ? { MBps: Number((this.bytes / 1e6 / seconds).toFixed(1)) } : {}),
      p50ms: percentile(0.5),
      p99ms: percentile(0.99),
      ...(this.errors > 0 ? { errors: this.errors, firstError: this.firstError } : {}),
    };
  }
}

async function loops(concurrency: number, durationMs: number, tally: Tally, operation: Operation): Promise<void> {
  const deadline = Date.now() + durationMs;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (Date.now() < deadline) await tally.time(operation);
  }));
}

/** Runs `operation` from `concurrency` loops for `durationMs`; prints and returns the rate and latencies. */
export async function measure(name: string, operation: Operation, options: LoopOptions): Promise<Measurement> {
  if (options.warmupMs) await loops(options.concurrency, options.warmupMs, new Tally(), operation);
  const tally = new Tally();
  await loops(options.concurrency, options.durationMs, tally, operation);
  const result = tally.summary(name, options.labels);
  console.log(JSON.stringify(result));
  return result;
}

/** Runs `operation` once for each item, `concurrency` at a time, until all are done; prints and returns the rate. */
export async function measureEach<T>(name: string, items: T[], operation: (item: T) => Promise<Work | void>, options: Omit<LoopOptions, 'durationMs' | 'warmupMs'>): Promise<Measurement> {
  const tally = new Tally();
  let next = 0;
  await Promise.all(Array.from({ length: options.concurrency }, async () => {
    for (let index = next++; index < items.length; index = next++) {
      const item = items[index]!;
      await tally.time(() => operation(item));
    }
  }));
  const result = tally.summary(name, options.labels);
  console.log(JSON.stringify(result));
  return result;
}
