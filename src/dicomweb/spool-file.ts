// A temporary file that bytes are appended to as they arrive, measured (size, SHA-256) on the way.
import { createHash, randomUUID } from 'node:crypto';
import fsp, { type FileHandle } from 'node:fs/promises';
import path from 'node:path';

export interface SpooledFile {
  path: string;
  size: number;
  /** Lower-case hex SHA-256 of the file's bytes. */
  sha256: string;
}

export class SpoolFile {
  readonly #hash = createHash('sha256');
  #size = 0;
  #file: FileHandle | undefined;

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

  /** Resolves once `bytes` are written, so a caller that awaits it reads no faster than the disk takes. */
  async append(bytes: Buffer): Promise<void> {
    if (!this.#file) throw new Error(`spool file ${this.path} is already closed`);
    this.#hash.update(bytes);
    this.#size += bytes.length;
    await this.#file.appendFile(bytes); // writes at the current position until every byte is written
  }

  /** Closes the file, which stays for the caller to remove; on failure it is deleted. */
  async finish(): Promise<SpooledFile> {
    if (!this.#file) throw new Error(`spool file ${this.path} is already closed`);
    const file = this.#file;
    this.#file = undefined;
    try {
      await file.close();
    } catch (error) {
      await removeSpooledFile(this.path);
      throw error;
    }
    return { path: this.path, size: this.#size, sha256: this.#hash.digest('hex') };
  }

  /** Closes and deletes the file; safe to call in any state, and more than once. */
  async discard(): Promise<void> {
    const file = this.#file;
    this.#file = undefined;
    await file?.close().catch(() => {});
    await removeSpooledFile(this.path);
  }
}

/** Deleting a file that is already gone succeeds. */
export async function removeSpooledFile(filePath: string): Promise<void> {
  await fsp.rm(filePath, { force: true });
}
