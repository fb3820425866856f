// Reads a request body one chunk at a time, only when asked (the client waits meanwhile), with a
// way out that neither hangs on a stalled client nor destroys the connection the answer must use.
import { finished, type Readable } from 'node:stream';
import { badRequest } from '../http/errors.ts';
import { Wakeup } from './multipart-wakeup.ts';

export class BodyChunks {
  readonly #stream: Readable;
  readonly #stopWatching: () => void;
  #ended = false;
  #error: Error | undefined;
  #cancelled = false;
  #released = false;
  readonly #change = new Wakeup();

  constructor(stream: Readable) {
    this.#stream = stream;
    stream.on('readable', this.#wakeUp);
    // finished() also reports a stream that closed before its end (a client that went away).
    this.#stopWatching = finished(stream, { writable: false }, (error) => {
      if (error) this.#error = interrupted(error);
      else this.#ended = true;
      this.#wakeUp();
    });
  }

  get cancelled(): boolean {
    return this.#cancelled;
  }

  /** The next chunk; undefined at the end of the body or once cancelled; 400 when the body was cut off. */
  async next(): Promise<Buffer | undefined> {
    for (;;) {
      if (this.#cancelled) return undefined;
      const chunk: unknown = this.#stream.destroyed ? null : this.#stream.read();
      if (chunk !== null) return asBuffer(chunk);
      if (this.#error) throw this.#error;
      if (this.#ended) return undefined;
      await this.#change.wait();
    }
  }

  /** Makes a pending and every later `next()` return undefined. */
  cancel(): void {
    this.#cancelled = true;
    this.#wakeUp();
  }

  /**
   * Stops reading. Whatever is left of the body is discarded as it arrives (as Node does with a
   * body nobody reads), so the client can finish sending and read the answer.
   */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#stream.off('readable', this.#wakeUp);
    this.#stopWatching();
    if (this.#ended || this.#stream.destroyed) return;
    this.#stream.on('error', () => {}); // a failure of what is being thrown away changes nothing
    this.#stream.resume();
  }

  readonly #wakeUp = (): void => this.#change.wake();
}

function interrupted(cause: Error): Error {
  const error = badRequest('the request body ended before it was complete: the connection closed before the whole body (its Content-Length, or the last chunk) arrived');
  error.cause = cause;
  return error;
}

function asBuffer(chunk: unknown): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  throw new TypeError('a multipart body must be a stream of bytes, not of strings or objects');
}
