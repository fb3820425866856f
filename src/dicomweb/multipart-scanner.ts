// Finds the boundaries of a multipart body as its bytes arrive (RFC 2046 §5.1.1), in any chunking.
import { badRequest } from '../http/errors.ts';

export type MultipartEvent =
  /** Part `number` (from 1) begins; `headers` is its header block without the empty line that ends it. */
  | { kind: 'part-start'; number: number; headers: Buffer }
  /** The next bytes of the current part's body, exactly as sent. */
  | { kind: 'part-data'; bytes: Buffer }
  | { kind: 'part-end' };

const CRLF = Buffer.from('\r\n');
const HEADERS_END = Buffer.from('\r\n\r\n');
const MAX_HEADER_BYTES = 16 * 1024;
/** How much transport padding (RFC 2046: linear white space) may follow a boundary before its CRLF. */
const MAX_DELIMITER_PADDING = 1024;

type State = 'preamble' | 'delimiter-line' | 'headers' | 'body' | 'epilogue';

/**
 * Push chunks in order, then call `end()`. Body bytes are passed on as soon as they cannot be the
 * start of a delimiter, so memory holds at most one chunk plus a delimiter (or a header block).
 *
 * The delimiter is CRLF "--" boundary: the CRLF before it belongs to it, not to the part before.
 * The body is scanned as if it began with a CRLF, so that a first delimiter at the very start of
 * the body (no preamble) is found like any other.
 */
export class MultipartScanner {
  readonly #delimiter: Buffer;
  #state: State = 'preamble';
  #pending: Buffer = CRLF;
  #partCount = 0;

  constructor(boundary: string) {
    this.#delimiter = Buffer.from(`\r\n--${boundary}`, 'latin1');
  }

  /**
   * The events this chunk completes, one at a time, so that an error in the body comes after the
   * events of everything before it. Their buffers may share memory with `chunk`.
   */
  *push(chunk: Buffer): Generator<MultipartEvent, void, undefined> {
    let data = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    for (;;) {
      const state = this.#state;
      const events: MultipartEvent[] = [];
      const consumed = this.#step(data, events);
      data = data.subarray(consumed);
      this.#pending = data;
      yield* events;
      if (consumed === 0 && this.#state === state) return; // needs more bytes
    }
  }

  /** Throws when the body ended before its close delimiter, or closed without a part. */
  end(): void {
    if (this.#state === 'epilogue') return;
    if (this.#partCount === 0) throw badRequest('the multipart body contains no part (its boundary delimiter was not found)');
    throw badRequest(`the multipart body is truncated: it ended in part ${this.#partCount} before the closing boundary delimiter`);
  }

  /** Advances over what `data` completes in the current state; returns how many bytes it used. */
  #step(data: Buffer, events: MultipartEvent[]): number {
    switch (this.#state) {
      case 'preamble': return this.#skipPreamble(data);
      case 'delimiter-line': return this.#readDelimiterLine(data);
      case 'headers': return this.#readHeaders(data, events);
      case 'body': return this.#readBody(data, events);
      case 'epilogue': return data.length;
    }
  }

  #skipPreamble(data: Buffer): number {
    const index = data.indexOf(this.#delimiter);
    if (index !== -1) {
      this.#state = 'delimiter-line';
      return index + this.#delimiter.length;
    }
    return Math.max(0, data.length - (this.#delimiter.length - 1));
  }

  /** After a boundary: "--" closes the body; otherwise optional padding and CRLF open a part. */
  #readDelimiterLine(data: Buffer): number {
    if (data.length < 2) return 0;
    if (data[0] === 0x2d && data[1] === 0x2d) {
      if (this.#partCount === 0) throw badRequest('the multipart body contains no part');
      this.#state = 'epilogue';
      return 2;
    }
    let padding = 0;
    while (padding < data.length && (data[padding] === 0x20 || data[padding] === 0x09)) padding++;
    if (padding === data.length || (padding === data.length - 1 && data[padding] === 0x0d)) {
      if (padding > MAX_DELIMITER_PADDING) throw malformedDelimiter(this.#partCount);
      return 0;
    }
    if (data[padding] !== 0x0d || data[padding + 1] !== 0x0a) throw malformedDelimiter(this.#partCount);
    this.#state = 'headers';
    this.#partCount++;
    // The CRLF stays: an empty header block then shows as CRLF CRLF right at the start.
    return padding;
  }

  #readHeaders(data: Buffer, events: MultipartEvent[]): number {
    const index = data.indexOf(HEADERS_END);
    if (index === -1) {
      if (data.length > MAX_HEADER_BYTES) throw badRequest(`the headers of part ${this.#partCount} of the multipart body exceed ${MAX_HEADER_BYTES} bytes`);
      return 0;
    }
    const headers = index === 0 ? Buffer.alloc(0) : Buffer.from(data.subarray(CRLF.length, index));
    events.push({ kind: 'part-start', number: this.#partCount, headers });
    this.#state = 'body';
    return index + HEADERS_END.length;
  }

  #readBody(data: Buffer, events: MultipartEvent[]): number {
    const index = data.indexOf(this.#delimiter);
    if (index !== -1) {
      if (index > 0) events.push({ kind: 'part-data', bytes: data.subarray(0, index) });
      events.push({ kind: 'part-end' });
      this.#state = 'delimiter-line';
      return index + this.#delimiter.length;
    }
    // Keep back only what could still become a delimiter once more bytes arrive.
    const safe = data.length - (this.#delimiter.length - 1);
    if (safe <= 0) return 0;
    events.push({ kind: 'part-data', bytes: data.subarray(0, safe) });
    return safe;
  }
}

function malformedDelimiter(partCount: number) {
  return badRequest(`the multipart body has a malformed boundary delimiter line after part ${partCount}: a boundary must be followed by "--" or by a line break`);
}
