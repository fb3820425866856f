// A promise that one side of an exchange waits on until the other says something changed.
/** One waiter at a time; a wake with nobody waiting is not remembered, so check before waiting. */
export class Wakeup {
  #resolve: (() => void) | undefined;

  wait(): Promise<void> {
    return new Promise((resolve) => {
      this.#resolve = resolve;
    });
  }

  wake(): void {
    const resolve = this.#resolve;
    this.#resolve = undefined;
    resolve?.();
  }
}
