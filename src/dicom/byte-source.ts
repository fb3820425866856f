// Random access to the bytes of a stored instance: a file read by positioned reads, or a Buffer.
import fsp, { type FileHandle } from 'node:fs/promises';

export interface RandomAccessSource {
  readonly size: number;
  /** Up to `length` bytes from `position`; fewer only where the source ends. */
  readAt(position: number, length: number): Promise<Buffer>;
}

export class FileSource implements RandomAccessSource {
  #bytesRead = 0;

  private constructor(readonly size: number, private readonly file: FileHandle) {}

  static async open(filePath: string): Promise<FileSource> {
    const file = await fsp.open(filePath, 'r');
    try {
      return new FileSource((await file.stat()).size, file);
    } catch (error) {
      await file.close();
      throw error;
    }
  }

  /** Bytes read from the file so far: what parsing actually cost, whatever the file's size. */
  get bytesRead(): number {
    return this.#bytesRead;
  }

  async readAt(position: number, length: number): Promise<Buffer> {
    const wanted = Math.max(0, Math.min(length, this.size - position));
    const buffer = Buffer.allocUnsafe(wanted);
    let filled = 0;
    while (filled < wanted) {
      const { bytesRead } = await this.file.read(buffer, filled, wanted - filled, position + filled);
      if (bytesRead === 0) break; // the file shrank under us
      filled += bytesRead;
    }
    this.#bytesRead += filled;
    return filled === wanted ? buffer : buffer.subarray(0, filled);
  }

  close(): Promise<void> {
    return this.file.close();
  }
}

export class BufferSource implements RandomAccessSource {
  constructor(private readonly buffer: Buffer) {}

  get size(): number {
    return this.buffer.length;
  }

  async readAt(position: number, length: number): Promise<Buffer> {
    return this.buffer.subarray(position, position + length);
  }
}
