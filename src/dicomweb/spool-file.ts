// A temporary file that bytes are appended to as they arrive, measured (size, SHA-256) on the way.
// Appends are gathered in memory up to FLUSH_BYTES and written together: a request body arrives in
// chunks of a few kilobytes, and a write per chunk costs more than the bytes it carries.
import { createHash, randomUUID } from 'node:crypto';
import fsp, { type FileHandle } from 'node:fs/promises';
import path from 'node:path';

export interface SpooledFile {
  path: string;
  size: number;
  /** Lower-case hex SHA-256 of the file's bytes. */
  sha256: string;
  /** The file's bytes, when it was small enough to be held whole until finished (FLUSH_BYTES). */
  bytes?: Buffer;
}

/** At most this much of a part is held in memory before it is written. */
const FLUSH_BYTES = 1024 * 1024;

export class SpoolFile {
  readonly #hash = createHash('sha256');
  #size = 0;
  #file: FileHandle | undefined;
  #unwritten: Buffer[] = [];
  #unwrittenBytes = 0;

  private constructor(readonly path: string, file: FileHandle) {
    this.#file = file;
  }

  /** Creates a new, empty file readable by this user only in `directory` (which must exist). */
  static async create(directory: string): Promise<SpoolFile> {
    const filePath = path.join(directory, `spool-${randomUUID()}`);
    return new SpoolFile(filePath, await fsp.open(filePath, 'wx', 0o600));
  }

  get size(): number {
    return this.#size;
  }

  /**
   * Resolves once `bytes` are held, or written when that makes FLUSH_BYTES, so that a caller that
   * awaits it reads no faster than the disk takes. `bytes` must not change afterwards.
   */
  async append(bytes: Buffer): Promise<void> {
    if (!this.#file) throw new Error(`spool file ${this.path} is already closed`);
    this.#hash.update(bytes);
    this.#size += bytes.length;
    this.#unwritten.push(bytes);
    this.#unwrittenBytes += bytes.length;
    if (this.#unwrittenBytes >= FLUSH_BYTES) await this.#write(this.#file);
  }

  /** Writes the held bytes; answers them, as one buffer. */
  async #write(file: FileHandle): Promise<Buffer> {
    const bytes = this.#unwritten.length === 1 ? this.#unwritten[0]! : Buffer.concat(this.#unwritten, this.#unwrittenBytes);
    this.#unwritten = [];
    this.#unwrittenBytes = 0;
    await file.appendFile(bytes); // writes at the current position until every byte is written
    return bytes;
  }

  /** Closes the file, which stays for the caller to remove; on failure it is deleted. */
  async finish(): Promise<SpooledFile> {
    if (!this.#file) throw new Error(`spool file ${this.path} is already closed`);
    const file = this.#file;
    this.#file = undefined;
    const heldWhole = this.#unwrittenBytes === this.#size;
    let bytes: Buffer | undefined;
    try {
      try {
        if (this.#unwrittenBytes > 0) bytes = await this.#write(file);
      } finally {
        await file.close();
      }
    } catch (error) {
      await removeSpooledFile(this.path);
      throw error;
    }
    return { path: this.path, size: this.#size, sha256: this.#hash.digest('hex'), ...(heldWhole ? { bytes: bytes ?? Buffer.alloc(0) } : {}) };
  }

  /** Closes and deletes the file; safe to call in any state, and more than once. */
  async discard(): Promise<void> {
    const file = this.#file;
    this.#file = undefined;
    this.#unwritten = [];
    this.#unwrittenBytes = 0;
    await file?.close().catch(() => {});
    await removeSpooledFile(this.path);
  }
}

/** Deleting a file that is already gone succeeds. */
export async function removeSpooledFile(filePath: string): Promise<void> {
  await fsp.rm(filePath, { force: true });
}
