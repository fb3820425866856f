// Counts the bytes of a body and computes their SHA-256 while they stream through to storage.
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';

export interface Digest {
  size: number;
  sha256: string;
}

export class Digester {
  readonly #hash = createHash('sha256');
  #size = 0;
  #result: Digest | undefined;

  /** Yields the body's chunks unchanged, measuring them on the way; a source error passes through. */
  async *observe(body: Readable | Buffer): AsyncGenerator<Buffer> {
    // A Buffer is wrapped rather than iterated: iterating it directly would yield single bytes.
    const chunks: AsyncIterable<unknown> | Iterable<unknown> = Buffer.isBuffer(body) ? [body] : body;
    for await (const chunk of chunks) {
      const bytes = asBuffer(chunk);
      this.#hash.update(bytes);
      this.#size += bytes.length;
      yield bytes;
    }
    this.#result = { size: this.#size, sha256: this.#hash.digest('hex') };
  }

  /** Available once `observe` has passed every byte on. */
  digest(): Digest {
    if (!this.#result) throw new Error('the body has not been read to its end');
    return this.#result;
  }
}

function asBuffer(chunk: unknown): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  throw new TypeError('a blob body must be a stream of bytes, not of strings or objects');
}
