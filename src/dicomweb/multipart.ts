// STOW-RS request bodies (DICOM PS3.18 §10.5; multipart/related, RFC 2387 and RFC 2046 §5.1):
// each part is held in memory as it arrives, up to 1 MiB; a larger part is spooled to a temporary
// file in writes of up to 1 MiB, so no part larger than that is held whole in memory.
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { HttpError, badRequest, unsupportedMediaType } from '../http/errors.ts';
import { Handoff } from './multipart-handoff.ts';
import { parseMediaType, parsePartHeaders } from './multipart-headers.ts';
import { MultipartScanner } from './multipart-scanner.ts';
import { BodyChunks } from './multipart-source.ts';
import { SpoolFile, removeSpooledFile, type SpooledFile } from './spool-file.ts';

export const DICOM_MEDIA_TYPE = 'application/dicom';

/** A part of the body: its bytes held in memory or spooled to a file (SpooledFile), and what its headers say. */
export type MultipartPart = PartDescription & SpooledFile;

interface PartDescription {
  /** Position in the body, from 1. */
  readonly number: number;
  /** The part's header fields, names lower-cased. */
  readonly headers: Readonly<Record<string, string>>;
  /**
   * Lower-case type/subtype of the part's Content-Type. A part without one is application/dicom,
   * the type the request declared for its parts. Anything else (application/dicom+json metadata,
   * bulk data...) is for the caller to refuse with the right failure reason.
   */
  readonly mediaType: string;
  /** Parameters of the part's Content-Type (e.g. transfer-syntax), names lower-cased. */
  readonly mediaTypeParameters: Readonly<Record<string, string>>;
  readonly contentLocation: string | undefined;
  /** A fresh stream of the part's bytes. */
  open(): Readable;
  /** Deletes the temporary file now rather than when the iteration ends; safe to call more than once. */
  remove(): Promise<void>;
  /** Keeps the temporary file when the iteration ends, for work that outlasts the loop: the caller is to remove() it. */
  retain(): void;
}

export interface MultipartOptions {
  /** Where parts larger than 1 MiB are spooled; created when missing. */
  tempDir: string;
  /** A larger part fails the body with 413. */
  maxPartBytes?: number;
}

/**
 * The parts of a STOW-RS request body, each yielded as soon as its closing delimiter has arrived.
 * The next part is spooled while the caller works on this one, so storing and receiving overlap;
 * beyond that one part the client is held back.
 *
 * Throws at once (415, 400) when `contentType` is not a multipart/related body of DICOM parts.
 * Iterating throws HttpError 400 for a malformed, truncated or interrupted body or one without a
 * part, 413 for a part over `maxPartBytes`; the parts that were complete before the failure are
 * yielded first. Every temporary file is deleted when the iteration ends, however it ends, so a
 * part's file is only to be used inside the loop, unless the part is retained. Once the parts are read (or the iteration
 * stopped early), the rest of the body is read and discarded, so the client gets the answer.
 */
export function readMultipartRelated(body: Readable, contentType: string | undefined, options: MultipartOptions): AsyncIterable<MultipartPart> {
  const { boundary } = parseStowContentType(contentType);
  return spoolParts(body, new MultipartScanner(boundary), options);
}

/** The boundary of a `multipart/related; type="application/dicom"` Content-Type, or the error to answer. */
export function parseStowContentType(contentType: string | undefined): { boundary: string } {
  const { type, parameters } = parseMediaType(contentType ?? '');
  if (type !== 'multipart/related') {
    const got = contentType ? `"${contentType}"` : 'a body without Content-Type';
    throw unsupportedMediaType(`STOW-RS takes a multipart/related; type="${DICOM_MEDIA_TYPE}" body, not ${got}`);
  }
  // RFC 2387 makes `type` required; a body without it is taken as DICOM parts all the same.
  if (parameters.type !== undefined && parseMediaType(parameters.type).type !== DICOM_MEDIA_TYPE) {
    throw unsupportedMediaType(`this server stores instances sent as ${DICOM_MEDIA_TYPE} parts; multipart/related bodies of type "${parameters.type}" (such as the metadata and bulk data form of STOW-RS) are not supported`);
  }
  const boundary = parameters.boundary;
  if (!boundary) throw badRequest('the multipart/related Content-Type has no boundary parameter');
  if (!isAcceptableBoundary(boundary)) throw badRequest(`the multipart boundary "${boundary.slice(0, 100)}" is not a valid boundary (RFC 2046 §5.1.1)`);
  return { boundary };
}

/** RFC 2046 allows 1 to 70 of a set of printable characters; any printable ASCII up to 200 is taken. */
function isAcceptableBoundary(boundary: string): boolean {
  return boundary.length <= 200 && /^[\x20-\x7e]+$/.test(boundary);
}

async function* spoolParts(body: Readable, scanner: MultipartScanner, options: MultipartOptions): AsyncGenerator<MultipartPart, void, undefined> {
  const source = new BodyChunks(body);
  const handoff = new Handoff<MultipartPart>();
  const spooled = new Set<MultipartPart>();
  const producing = produceParts(source, scanner, options, handoff, spooled);
  try {
    for (;;) {
      const next = await handoff.take();
      if (next.done) return;
      yield next.value;
    }
  } finally {
    // The producer's every wait ends on cancellation, so awaiting it cannot hang on a stalled client.
    handoff.cancel();
    source.cancel();
    await producing;
    await Promise.all([...spooled].map((part) => part.remove()));
  }
}

/** Never rejects: a failure is handed to the consumer through `handoff`. */
async function produceParts(
  source: BodyChunks,
  scanner: MultipartScanner,
  options: MultipartOptions,
  handoff: Handoff<MultipartPart>,
  spooled: Set<MultipartPart>,
): Promise<void> {
  let current: { number: number; headers: Record<string, string>; file: SpoolFile } | undefined;
  try {
    for (let chunk = await source.next(); chunk; chunk = await source.next()) {
      for (const event of scanner.push(chunk)) {
        if (event.kind === 'part-start') {
          const headers = parsePartHeaders(event.headers, event.number);
          current = { number: event.number, headers, file: new SpoolFile(options.tempDir) };
        } else if (event.kind === 'part-data') {
          const { number, file } = current!;
          if (options.maxPartBytes !== undefined && file.size + event.bytes.length > options.maxPartBytes) {
            throw new HttpError(413, 'too-costly', `part ${number} of the multipart body is larger than the limit of ${options.maxPartBytes} bytes`);
          }
          await file.append(event.bytes);
        } else {
          const { number, headers, file } = current!;
          current = undefined;
          const part = spooledPart(number, headers, await file.finish(), () => spooled.delete(part));
          spooled.add(part);
          if (!(await handoff.give(part))) return;
        }
      }
    }
    if (source.cancelled) return;
    scanner.end();
    handoff.close();
  } catch (error) {
    handoff.close(error);
  } finally {
    await current?.file.discard();
    source.release();
  }
}

function spooledPart(number: number, headers: Record<string, string>, file: SpooledFile, retain: () => void): MultipartPart {
  const contentType = headers['content-type'];
  const media = contentType === undefined ? { type: DICOM_MEDIA_TYPE, parameters: {} } : parseMediaType(contentType);
  let removal: Promise<void> | undefined;
  return {
    number,
    headers,
    mediaType: media.type,
    mediaTypeParameters: media.parameters,
    contentLocation: headers['content-location'],
    ...file,
    open: () => (file.bytes ? Readable.from([file.bytes]) : createReadStream(file.path)),
    remove: () => (removal ??= file.bytes ? Promise.resolve() : removeSpooledFile(file.path)),
    retain,
  };
}
