// A part's bytes as they arrive, measured (size, SHA-256) on the way. Up to FLUSH_BYTES they are
// held in memory only: most instances (intraoral images, CT slices) are smaller, and for them a
// temporary file would cost more file operations than the rest of storing them. A larger part goes
// to a temporary file, created when FLUSH_BYTES have arrived and then written FLUSH_BYTES at a time
// (a request body arrives in chunks of a few kilobytes; a write per chunk costs more than it carries).
import { createHash, randomUUID } from 'node:crypto';
import fsp, { type FileHandle } from 'node:fs/promises';
import path from 'node:path';

/** What was spooled: held in memory (`bytes`), or in a file (`path`) when it was larger than FLUSH_BYTES. */
export type SpooledFile = {
  size: number;
  /** Lower-case hex SHA-256 of the bytes. */
  sha256: string;
} & ({ bytes: Buffer; path?: undefined } | { path: string; bytes?: undefined });

/** At most this much of a part is held in memory; a larger part is written as it arrives. */
const FLUSH_BYTES = 1024 * 1024;

export class SpoolFile {
  readonly #hash = createHash('sha256');
  readonly #filePath: string;
  #size = 0;
  #file: FileHandle | undefined;
  #finished = false;
  #unwritten: Buffer[] = [];
  #unwrittenBytes = 0;

  /** The file, if one is needed, is to be readable by this user only, in `directory` (created if missing). */
  constructor(private readonly directory: string) {
    this.#filePath = path.join(directory, `spool-${randomUUID()}`);
  }

  get size(): number {
    return this.#size;
  }

  /**
   * Resolves once `bytes` are held, or written when that makes FLUSH_BYTES, so that a caller that
   * awaits it reads no faster than the disk takes. `bytes` must not change afterwards.
   */
  async append(bytes: Buffer): Promise<void> {
    if (this.#finished) throw new Error('the spool file is already finished');
    this.#hash.update(bytes);
    this.#size += bytes.length;
    this.#unwritten.push(bytes);
    this.#unwrittenBytes += bytes.length;
    if (this.#unwrittenBytes >= FLUSH_BYTES) await this.#write();
  }

  /** Writes the held bytes, to a file created by the first write. */
  async #write(): Promise<void> {
    const bytes = this.#held();
    this.#unwritten = [];
    this.#unwrittenBytes = 0;
    this.#file ??= await this.#create();
    await this.#file.appendFile(bytes); // writes at the current position until every byte is written
  }

  #held(): Buffer {
    return this.#unwritten.length === 1 ? this.#unwritten[0]! : Buffer.concat(this.#unwritten, this.#unwrittenBytes);
  }

  async #create(): Promise<FileHandle> {
    try {
      return await fsp.open(this.#filePath, 'wx', 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    await fsp.mkdir(this.directory, { recursive: true });
    return fsp.open(this.#filePath, 'wx', 0o600);
  }

  /** The bytes held, or the file closed (it stays for the caller to remove); on failure the file is deleted. */
  async finish(): Promise<SpooledFile> {
    if (this.#finished) throw new Error('the spool file is already finished');
    this.#finished = true;
    const measured = { size: this.#size, sha256: this.#hash.digest('hex') };
    if (!this.#file) return { ...measured, bytes: this.#held() };
    try {
      try {
        if (this.#unwrittenBytes > 0) await this.#write();
      } finally {
        await this.#file.close();
      }
    } catch (error) {
      await removeSpooledFile(this.#filePath);
      throw error;
    }
    return { ...measured, path: this.#filePath };
  }

  /** Closes and deletes the file, if there is one; safe to call in any state, and more than once. */
  async discard(): Promise<void> {
    const file = this.#file;
    this.#file = undefined;
    this.#finished = true;
    this.#unwritten = [];
    this.#unwrittenBytes = 0;
    if (!file) return;
    await file.close().catch(() => {});
    await removeSpooledFile(this.#filePath);
  }
}

/** Deleting a file that is already gone succeeds. */
export async function removeSpooledFile(filePath: string): Promise<void> {
  try {
    await fsp.unlink(filePath);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}
