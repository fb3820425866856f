// BlobStore on the local file system: one file per key under a root directory, written atomically.
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { DirectorySyncs } from './directory-sync.ts';
import { Digester } from './digester.ts';
import { BlobNotFoundError, BlobRangeNotSatisfiableError } from './errors.ts';
import type { BlobHead, BlobListing, BlobRange, BlobStore, PutResult } from './index.ts';
import { closeFile, fstatFile, openFile, renameFile, syncFile, syncPath, writeFully } from './fs-calls.ts';
import { assertValidKey, assertValidPrefix, assertValidRange, isValidKey } from './keys.ts';

// "~" cannot occur in a key, so a temporary file can never be mistaken for (or collide with) a blob.
const TEMP_MARKER = '.~tmp-';

function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** Blobs are mostly read whole into a response: larger reads mean fewer socket writes (64 KiB is the default). */
const READ_CHUNK_BYTES = 1024 * 1024;

export class FsBlobStore implements BlobStore {
  /** Directories this store has made sure of: created, and their entries durable. */
  readonly #directories = new Set<string>();
  readonly #syncs = new DirectorySyncs();

  constructor(readonly root: string) {}

  private pathOf(key: string): string {
    return path.join(this.root, ...key.split('/'));
  }

  async put(key: string, body: Readable | Buffer): Promise<PutResult> {
    const digester = new Digester();
    await this.write(key, digester.observe(body), body);
    return digester.digest();
  }

  /** A hard link, made durable: no byte is copied when `file` is on this store's file system. Bytes in memory are written. */
  async putFile(key: string, file: string | Buffer): Promise<void> {
    if (Buffer.isBuffer(file)) return this.write(key, [file], file);
    assertValidKey(key);
    const target = this.pathOf(key);
    const directory = path.dirname(target);
    await syncPath(file); // its bytes are on disk before a name of the store points at them
    try {
      await this.inDirectory(directory, () => this.link(file, target));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
      await this.put(key, createReadStream(file)); // another file system: copied
      return;
    }
    await this.#syncs.sync(directory);
  }

  /** Writes `chunks` (read from `body`) to a temporary file, made durable, then renamed to `key`'s. */
  private async write(key: string, chunks: AsyncIterable<Buffer> | Iterable<Buffer>, body: Readable | Buffer): Promise<void> {
    assertValidKey(key);
    const target = this.pathOf(key);
    const directory = path.dirname(target);
    const temporary = `${target}${TEMP_MARKER}${randomBytes(8).toString('hex')}`;
    let open: number | undefined;
    try {
      const fd = await this.inDirectory(directory, () => openFile(temporary, 'wx'));
      open = fd;
      for await (const chunk of chunks) await writeFully(fd, chunk);
      await syncFile(fd);
      open = undefined;
      await closeFile(fd);
      await renameFile(temporary, target);
    } catch (error) {
      if (body instanceof Readable) body.destroy(); // in case it failed before the body was read
      if (open !== undefined) await closeFile(open).catch(() => {});
      await fsp.rm(temporary, { force: true });
      throw error;
    }
    await this.#syncs.sync(directory);
  }

  /** A link is made whole or not at all, so the blob's own name serves unless a blob has it already. */
  private async link(file: string, target: string): Promise<void> {
    try {
      await fsp.link(file, target);
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const temporary = `${target}${TEMP_MARKER}${randomBytes(8).toString('hex')}`;
    await fsp.link(file, temporary);
    try {
      await fsp.rename(temporary, target);
    } catch (error) {
      await fsp.rm(temporary, { force: true });
      throw error;
    }
  }

  /** `write` into `directory`, made sure of first; once more should the directory have been removed since. */
  private async inDirectory<T>(directory: string, write: () => Promise<T>): Promise<T> {
    await this.ensureDirectory(directory);
    try {
      return await write();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || !this.#directories.delete(directory)) throw error;
    }
    await this.ensureDirectory(directory);
    return write();
  }

  private async ensureDirectory(directory: string): Promise<void> {
    if (this.#directories.has(directory)) return;
    const firstCreated = await fsp.mkdir(directory, { recursive: true });
    if (firstCreated !== undefined) {
      // Each new directory's entry made durable in its parent, as a blob's is in its directory.
      for (let created = directory; created !== path.dirname(created); created = path.dirname(created)) {
        await this.#syncs.sync(path.dirname(created));
        if (created === firstCreated) break;
      }
    }
    this.#directories.add(directory);
  }

  async get(key: string, range?: BlobRange): Promise<Readable> {
    assertValidKey(key);
    assertValidRange(range);
    // A descriptor and a stream over it (fs-calls.ts): reading a small blob this way costs about
    // half the CPU of a FileHandle's promises and stream.
    let fd: number;
    try {
      fd = await openFile(this.pathOf(key), 'r');
    } catch (error) {
      if (isMissing(error)) throw new BlobNotFoundError(key);
      throw error;
    }
    let start: number;
    let length: number;
    try {
      const stats = await fstatFile(fd);
      if (!stats.isFile()) throw new BlobNotFoundError(key);
      if (range && range.start >= stats.size) throw new BlobRangeNotSatisfiableError(key, range.start);
      start = range?.start ?? 0;
      length = Math.min(stats.size - 1, range?.end ?? Infinity) - start + 1;
    } catch (error) {
      await closeFile(fd);
      throw error;
    }
    // Each read fills a buffer of highWaterMark bytes: no larger than what there is to read. With
    // the end given, the stream ends without asking the file for more.
    const highWaterMark = Math.max(1, Math.min(READ_CHUNK_BYTES, length));
    return createReadStream('', { fd, start, ...(length > 0 ? { end: start + length - 1 } : {}), highWaterMark, autoClose: true });
  }

  async head(key: string): Promise<BlobHead | undefined> {
    assertValidKey(key);
    try {
      const stats = await fsp.stat(this.pathOf(key));
      return stats.isFile() ? { size: stats.size } : undefined;
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    assertValidKey(key);
    try {
      await fsp.unlink(this.pathOf(key));
    } catch (error) {
      // EISDIR: the key names a directory of other blobs, so there is no blob to delete.
      if (isMissing(error) || (error as NodeJS.ErrnoException).code === 'EISDIR') return;
      throw error;
    }
  }

  async *list(prefix: string): AsyncIterable<BlobListing> {
    assertValidPrefix(prefix);
    // Start at the deepest directory the prefix names completely; the rest filters by name.
    const startDirectory = prefix.slice(0, prefix.lastIndexOf('/') + 1);
    yield* this.walk(startDirectory, prefix);
  }

  private async *walk(directoryKey: string, prefix: string): AsyncIterable<BlobListing> {
    let entries;
    try {
      entries = await fsp.readdir(path.join(this.root, directoryKey), { withFileTypes: true });
    } catch (error) {
      if (isMissing(error)) return;
      throw error;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const key = directoryKey + entry.name;
      if (!isValidKey(key)) continue; // temporary files and anything not written by this store
      if (entry.isDirectory()) {
        if (`${key}/`.startsWith(prefix)) yield* this.walk(`${key}/`, prefix);
      } else if (entry.isFile() && key.startsWith(prefix)) {
        const stats = await statOf(path.join(this.root, directoryKey, entry.name));
        if (stats) yield { key, size: stats.size, lastModified: stats.mtime };
      }
    }
  }
}

/** undefined when the file was deleted while listing. */
async function statOf(file: string): Promise<{ size: number; mtime: Date } | undefined> {
  try {
    return await fsp.stat(file);
  } catch (error) {
    if (isMissing(error)) return undefined;
    throw error;
  }
}
