// Makes a directory's new entries durable (fsync of the directory), shared between the writers of
// one directory: a sync covers every entry made before it began, so callers that arrive while one
// is under way wait for the next, and all of them share it. Blobs stored at the same time into one
// directory then cost one sync a round rather than one each.
import { syncPath } from './fs-calls.ts';

interface Round {
  /** The sync under way, if any. */
  running?: Promise<void>;
  /** The sync that starts when the running one ends, for callers who came after it began. */
  next?: Promise<void>;
}

export class DirectorySyncs {
  readonly #rounds = new Map<string, Round>();

  constructor(private readonly syncOnce: (directory: string) => Promise<void> = syncPath) {}

  /** Resolves once a sync of `directory` that began after this call has completed. */
  sync(directory: string): Promise<void> {
    let round = this.#rounds.get(directory);
    if (!round) this.#rounds.set(directory, (round = {}));
    const { running } = round;
    if (!running) return this.#start(directory, round);
    const waiting = round;
    waiting.next ??= running.then(noop, noop).then(() => {
      waiting.next = undefined;
      return this.#start(directory, waiting);
    });
    return waiting.next;
  }

  #start(directory: string, round: Round): Promise<void> {
    const running: Promise<void> = this.syncOnce(directory).finally(() => {
      if (round.running !== running) return;
      round.running = undefined;
      if (!round.next) this.#rounds.delete(directory);
    });
    round.running = running;
    return running;
  }
}

function noop(): void {}
