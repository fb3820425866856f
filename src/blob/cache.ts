// Whole blobs kept in memory in front of a blob store, the least recently read dropped first: a
// viewer reads the instances of a study again and again, and a read from memory costs no file
// operations (four thread-pool round trips for the file system store, a request for S3).
//
// A range of a blob not held is read from the store, unless the caller tells the blob's size and
// it is small enough to keep: then the whole is read and kept, as rendering and frames read a few
// ranges of the same small instances again and again.
//
// A reader owns the chunks it reads (the transcoder swaps bytes in place): the cache hands out
// copies, and keeps copies of what it passes on. A write or delete through this store drops the
// key's entry. Another process's would not, but
// none comes: the ingest writes each blob under a key of its own (a UUID per store), never again,
// and deletes it with the row that names it, through which every read goes.
import { Readable } from 'node:stream';
import type { BlobHead, BlobListing, BlobRange, BlobStore, PutOptions, PutResult, ReadHint } from './index.ts';
import { BlobRangeNotSatisfiableError } from './errors.ts';
import { assertValidKey, assertValidRange } from './keys.ts';

export interface BlobCacheOptions {
  /** Bytes held at most. */
  maxBytes: number;
  /** Larger blobs are not kept (default an eighth of maxBytes), so that one cannot empty the cache. */
  maxEntryBytes?: number;
}

export class CachedBlobStore implements BlobStore {
  /** In order of last read, least recent first (a Map iterates in insertion order). */
  private readonly entries = new Map<string, Buffer>();
  private heldBytes = 0;
  /** Keys being read whole for a range (fillWhole). */
  private readonly filling = new Map<string, Promise<void>>();
  private readonly maxEntryBytes: number;

  constructor(private readonly inner: BlobStore, private readonly options: BlobCacheOptions) {
    this.maxEntryBytes = options.maxEntryBytes ?? Math.floor(options.maxBytes / 8);
  }

  /** Bytes held now. */
  get size(): number {
    return this.heldBytes;
  }

  async get(key: string, range?: BlobRange, hint?: ReadHint): Promise<Readable> {
    assertValidKey(key);
    assertValidRange(range);
    let held = this.entries.get(key);
    if (!held && range && hint?.blobSize !== undefined && hint.blobSize <= this.maxEntryBytes) {
      await this.fillWhole(key);
      held = this.entries.get(key);
    }
    if (held) {
      this.entries.delete(key);
      this.entries.set(key, held);
      if (range && range.start >= held.length) throw new BlobRangeNotSatisfiableError(key, range.start);
      const bytes = range ? held.subarray(range.start, range.end === undefined ? undefined : range.end + 1) : held;
      return Readable.from([Buffer.from(bytes)]);
    }
    const stream = await this.inner.get(key, range);
    return range ? stream : Readable.from(this.keepingWhole(key, stream));
  }

  /** Reads blob `key` whole into the cache; readers who ask meanwhile share the read. */
  private fillWhole(key: string): Promise<void> {
    let filling = this.filling.get(key);
    if (!filling) {
      filling = (async () => {
        for await (const _chunk of this.keepingWhole(key, await this.inner.get(key)));
      })().finally(() => this.filling.delete(key));
      this.filling.set(key, filling);
    }
    return filling;
  }

  /** The chunks of `stream`; once all have been read, the whole is kept if small enough. */
  private async *keepingWhole(key: string, stream: Readable): AsyncGenerator<Buffer> {
    const chunks: Buffer[] = [];
    let length = 0;
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      length += chunk.length;
      if (length <= this.maxEntryBytes) chunks.push(Buffer.from(chunk));
      yield chunk;
    }
    if (length <= this.maxEntryBytes) this.keep(key, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, length));
  }

  private keep(key: string, bytes: Buffer): void {
    this.drop(key);
    this.entries.set(key, bytes);
    this.heldBytes += bytes.length;
    for (const [oldest, held] of this.entries) {
      if (this.heldBytes <= this.options.maxBytes) break;
      this.entries.delete(oldest);
      this.heldBytes -= held.length;
    }
  }

  private drop(key: string): void {
    const held = this.entries.get(key);
    if (!held) return;
    this.entries.delete(key);
    this.heldBytes -= held.length;
  }

  head(key: string): Promise<BlobHead | undefined> {
    return this.inner.head(key);
  }

  async delete(key: string): Promise<void> {
    this.drop(key);
    await this.inner.delete(key);
  }

  put(key: string, body: Readable | Buffer, options?: PutOptions): Promise<PutResult> {
    this.drop(key);
    return this.inner.put(key, body, options);
  }

  putFile(key: string, file: string | Buffer, options?: PutOptions): Promise<void> {
    this.drop(key);
    return this.inner.putFile(key, file, options);
  }

  list(prefix: string): AsyncIterable<BlobListing> {
    return this.inner.list(prefix);
  }
}
