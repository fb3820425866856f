// Reads a byte stream front to back with bounded memory: directly from a random-access source
// (skipping is free: nothing is read), or through an inflater for deflated data sets (skipping
// inflates and discards).
import { pipeline, Readable } from 'node:stream';
import zlib from 'node:zlib';
import type { RandomAccessSource } from './byte-source.ts';
import { InstanceParseError } from './instance-errors.ts';

export interface SequentialReader {
  /** Offset of the next byte in the stream. */
  readonly position: number;
  /** Exactly `length` bytes (a copy the caller may keep); a stream that ends first is truncated. */
  read(length: number): Promise<Buffer>;
  /** The next `length` bytes without consuming them. */
  peek(length: number): Promise<Buffer>;
  skip(length: number): Promise<void>;
  atEnd(): Promise<boolean>;
  close(): void;
}

const truncated = (position: number, wanted: number) =>
  new InstanceParseError('truncated', `the file ends before the ${wanted} bytes expected at offset ${position}`);

// Read-ahead: large while reading contiguous header bytes, small right after a skip, where the
// next read is usually an 8-byte item header between two large fragments.
const FIRST_READ_AHEAD = 64 * 1024;
const READ_AHEAD_AFTER_SKIP = 512;
const MAX_READ_AHEAD = 1024 * 1024;

export class SourceReader implements SequentialReader {
  #window: Buffer = Buffer.alloc(0);
  #windowStart = 0;
  #readAhead = FIRST_READ_AHEAD;

  constructor(private readonly source: RandomAccessSource, public position = 0) {}

  async read(length: number): Promise<Buffer> {
    const bytes = Buffer.from(await this.peek(length));
    this.position += length;
    return bytes;
  }

  async peek(length: number): Promise<Buffer> {
    const start = this.position - this.#windowStart;
    if (start < 0 || start + length > this.#window.length) {
      if (this.position + length > this.source.size) throw truncated(this.position, length);
      this.#window = await this.source.readAt(this.position, Math.max(length, this.#readAhead));
      this.#windowStart = this.position;
      this.#readAhead = Math.min(this.#readAhead * 4, MAX_READ_AHEAD);
      if (this.#window.length < length) throw truncated(this.position, length);
      return this.#window.subarray(0, length);
    }
    return this.#window.subarray(start, start + length);
  }

  async skip(length: number): Promise<void> {
    if (this.position + length > this.source.size) throw truncated(this.position, length);
    this.position += length;
    if (this.position > this.#windowStart + this.#window.length) this.#readAhead = READ_AHEAD_AFTER_SKIP;
  }

  async atEnd(): Promise<boolean> {
    return this.position >= this.source.size;
  }

  close(): void {}
}

const COMPRESSED_CHUNK = 64 * 1024;

/** The inflated bytes of a deflate stream that starts at `start` in `source`; positions count inflated bytes. */
export class InflatingReader implements SequentialReader {
  position = 0;
  #pending: Buffer = Buffer.alloc(0);
  #ended = false;
  readonly #inflated: AsyncIterator<Buffer>;

  constructor(source: RandomAccessSource, start: number, firstBytes: Buffer) {
    const compressed = Readable.from(compressedChunks(source, start));
    // PS3.5 A.5 asks for raw deflate; some writers add a zlib header anyway.
    const inflater = hasZlibHeader(firstBytes) ? zlib.createInflate() : zlib.createInflateRaw();
    // pipeline() hands a read error of the source on to the inflater, whose iterator then throws it.
    pipeline(compressed, inflater, () => {});
    this.#inflated = inflater[Symbol.asyncIterator]();
    this.close = () => {
      compressed.destroy();
      inflater.destroy();
    };
  }

  readonly close: () => void;

  async read(length: number): Promise<Buffer> {
    const bytes = Buffer.from(await this.peek(length));
    this.#consume(length);
    return bytes;
  }

  async peek(length: number): Promise<Buffer> {
    while (this.#pending.length < length) {
      if (!(await this.#pull())) throw truncated(this.position, length);
    }
    return this.#pending.subarray(0, length);
  }

  async skip(length: number): Promise<void> {
    let left = length;
    while (left > 0) {
      if (this.#pending.length === 0 && !(await this.#pull())) throw truncated(this.position, left);
      const taken = Math.min(left, this.#pending.length);
      this.#consume(taken);
      left -= taken;
    }
  }

  async atEnd(): Promise<boolean> {
    return this.#pending.length === 0 && !(await this.#pull());
  }

  #consume(length: number): void {
    this.#pending = this.#pending.subarray(length);
    this.position += length;
  }

  async #pull(): Promise<boolean> {
    if (this.#ended) return false;
    let next: IteratorResult<Buffer>;
    try {
      next = await this.#inflated.next();
    } catch (error) {
      const code = zlibErrorCode(error);
      if (code === undefined) throw error;
      if (code === 'Z_BUF_ERROR') throw new InstanceParseError('truncated', 'the deflated data set ends before its deflate stream does');
      throw new InstanceParseError('malformed', `the deflated data set cannot be inflated: ${(error as Error).message}`);
    }
    if (next.done) {
      this.#ended = true;
      return false;
    }
    this.#pending = this.#pending.length === 0 ? next.value : Buffer.concat([this.#pending, next.value]);
    return true;
  }
}

async function* compressedChunks(source: RandomAccessSource, start: number): AsyncGenerator<Buffer> {
  for (let position = start; position < source.size; position += COMPRESSED_CHUNK) {
    yield await source.readAt(position, COMPRESSED_CHUNK);
  }
}

function hasZlibHeader(bytes: Buffer): boolean {
  return bytes.length >= 2 && (bytes[0]! & 0x0f) === 8 && ((bytes[0]! << 8) | bytes[1]!) % 31 === 0;
}

function zlibErrorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && code.startsWith('Z_') ? code : undefined;
}
