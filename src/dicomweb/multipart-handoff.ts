// Passes items from one producer to one consumer, hand to hand: the producer waits until the
// consumer has taken what it gives, so it is never more than one item ahead.
import { Wakeup } from './multipart-wakeup.ts';

export class Handoff<T> {
  #offered: { item: T } | undefined;
  #closed = false;
  #failure: { error: unknown } | undefined;
  #cancelled = false;
  readonly #consumer = new Wakeup();
  readonly #producer = new Wakeup();

  get cancelled(): boolean {
    return this.#cancelled;
  }

  /** Resolves true once the consumer has taken `item`, false if the consumer cancelled instead. */
  async give(item: T): Promise<boolean> {
    if (this.#cancelled) return false;
    const offer = { item };
    this.#offered = offer;
    this.#consumer.wake();
    while (this.#offered === offer && !this.#cancelled) await this.#producer.wait();
    return this.#offered !== offer;
  }

  /** No more items; with `error`, the consumer gets it after the item on offer, if any. */
  close(error?: unknown): void {
    this.#closed = true;
    if (error !== undefined) this.#failure = { error };
    this.#consumer.wake();
  }

  /** The next item, or done once closed; throws the error the producer closed with. */
  async take(): Promise<IteratorResult<T, undefined>> {
    for (;;) {
      const offer = this.#offered;
      if (offer) {
        this.#offered = undefined;
        this.#producer.wake();
        return { done: false, value: offer.item };
      }
      if (this.#failure) throw this.#failure.error;
      if (this.#closed) return { done: true, value: undefined };
      await this.#consumer.wait();
    }
  }

  /** The consumer is gone: a waiting and every later `give` resolve false. */
  cancel(): void {
    this.#cancelled = true;
    this.#producer.wake();
  }
}
