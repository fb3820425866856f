// STOW-RS request bodies (DICOM PS3.18 §10.5): multipart/related (RFC 2387, RFC 2046 §5.1) read
// as a stream, every part held in memory or, when larger than 1 MiB, spooled to a temporary file,
// exactly as sent.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { setTimeout as delay } from 'node:timers/promises';
import express from 'express';
import pino from 'pino';
import { readMultipartRelated, parseStowContentType, type MultipartOptions, type MultipartPart } from '../src/dicomweb/multipart.ts';
import { MultipartScanner } from '../src/dicomweb/multipart-scanner.ts';
import { errorHandler } from '../src/http/error-handler.ts';
import { HttpError } from '../src/http/errors.ts';

const SAMPLES = path.join(import.meta.dirname, '../../shared/dicom-samples');
const sample = (name: string) => fs.readFileSync(path.join(SAMPLES, name));
const CT_SMALL = sample('pydicom/CT_small.dcm');
const MR_SMALL = sample('pydicom/MR_small.dcm');
const JPEG2000 = sample('pydicom/JPEG2000.dcm');
const RLE_2FRAME = sample('pydicom/SC_rgb_rle_2frame.dcm');
const PANORAMIC = sample('synthetic/basic/D1-000001/02-px/001-0001.dcm');
const CBCT_SLICE = sample('synthetic/basic/D1-000001/03-ct/001-0001.dcm');

/** Bytes of a part too large to be held in memory (over 1 MiB): it is spooled to a file. */
function largePart(size: number, seed: number): Buffer {
  const bytes = Buffer.alloc(size);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7919 + seed) % 251;
  return bytes;
}
const LARGE_1 = largePart(1024 * 1024 + 5, 1);
const LARGE_2 = largePart(1536 * 1024, 2);
const LARGE_3 = largePart(2 * 1024 * 1024 + 1, 3);

const BOUNDARY = 'cusp-boundary-7f3a';
const DICOM_CONTENT_TYPE = `multipart/related; type="application/dicom"; boundary=${BOUNDARY}`;
/**
 * Part data that looks like delimiters: beginnings of one, one without the CRLF in front, one
 * with its last character changed, and at the end a beginning that the real delimiter follows.
 */
const LOOKALIKES = Buffer.from(`\r\n--${BOUNDARY.slice(0, 9)}|\r\n--|--${BOUNDARY}|\r\n-|\r\r\n\r\n--${BOUNDARY.slice(0, -1)}X\r\n--${BOUNDARY.slice(0, 5)}`, 'latin1');

interface BodyPart {
  headers?: string[];
  bytes: Buffer;
}

function multipartBody(parts: BodyPart[], options: { boundary?: string; preamble?: string; epilogue?: string } = {}): Buffer {
  const boundary = options.boundary ?? BOUNDARY;
  const pieces: Buffer[] = [Buffer.from(options.preamble === undefined ? '' : `${options.preamble}\r\n`, 'latin1')];
  for (const part of parts) {
    const headers = (part.headers ?? ['Content-Type: application/dicom']).map((header) => `${header}\r\n`).join('');
    pieces.push(Buffer.from(`--${boundary}\r\n${headers}\r\n`, 'latin1'), part.bytes, Buffer.from('\r\n'));
  }
  pieces.push(Buffer.from(`--${boundary}--${options.epilogue ?? ''}`, 'latin1'));
  return Buffer.concat(pieces);
}

const dicomParts = (...files: Buffer[]): BodyPart[] => files.map((bytes) => ({ bytes }));

function inChunks(bytes: Buffer, size: number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let start = 0; start < bytes.length; start += size) chunks.push(bytes.subarray(start, start + size));
  return chunks;
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

function makeTempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'cusp-multipart-'));
}

const filesIn = (directory: string) => fs.readdirSync(directory);

interface ReadPart {
  number: number;
  headers: Record<string, string>;
  mediaType: string;
  mediaTypeParameters: Record<string, string>;
  contentLocation: string | undefined;
  size: number;
  sha256: string;
  bytes: Buffer;
  /** What the part held in memory: `bytes`, when it was small enough. */
  held: Buffer | undefined;
}

/** Every part, its file read inside the loop (the files are gone once the loop ends). */
async function readParts(body: Readable, contentType: string | undefined, options: MultipartOptions): Promise<ReadPart[]> {
  const parts: ReadPart[] = [];
  for await (const part of readMultipartRelated(body, contentType, options)) {
    parts.push({
      number: part.number,
      headers: { ...part.headers },
      mediaType: part.mediaType,
      mediaTypeParameters: { ...part.mediaTypeParameters },
      contentLocation: part.contentLocation,
      size: part.size,
      sha256: part.sha256,
      bytes: part.bytes ?? await fs.promises.readFile(part.path),
      held: part.bytes,
    });
  }
  return parts;
}

function httpError(status: number, message: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof HttpError, `expected an HttpError, got ${String(error)}`);
    assert.equal(error.status, status);
    assert.match(error.message, message);
    return true;
  };
}

/** Scans `body` fed in chunks of `size` and returns each part's header block and bytes. */
function scan(body: Buffer, size: number): { headers: string; bytes: Buffer }[] {
  const scanner = new MultipartScanner(BOUNDARY);
  const parts: { headers: string; data: Buffer[] }[] = [];
  for (const chunk of inChunks(body, size)) {
    for (const event of scanner.push(chunk)) {
      if (event.kind === 'part-start') parts.push({ headers: event.headers.toString('latin1'), data: [] });
      else if (event.kind === 'part-data') parts.at(-1)!.data.push(Buffer.from(event.bytes));
    }
  }
  scanner.end();
  return parts.map((part) => ({ headers: part.headers, bytes: Buffer.concat(part.data) }));
}

const CHUNK_SIZES = [1, 2, 3, 7, 64, 65536];

describe('STOW-RS multipart/related request bodies', () => {
  describe('the request Content-Type', () => {
    it('takes type and boundary quoted or not, in any case, with the characters RFC 2046 allows', () => {
      assert.deepEqual(parseStowContentType('multipart/related; type="application/dicom"; boundary="abc"'), { boundary: 'abc' });
      assert.deepEqual(parseStowContentType('Multipart/Related;Type=Application/DICOM;Boundary=abc'), { boundary: 'abc' });
      assert.deepEqual(parseStowContentType('multipart/related; boundary=a=b:c+d/e?f;type=application/dicom'), { boundary: 'a=b:c+d/e?f' });
      assert.deepEqual(parseStowContentType(`multipart/related; type="application/dicom"; boundary="gc0p4Jq0M2Yt08j34c0p; a=b 'x' (y),z."`), {
        boundary: "gc0p4Jq0M2Yt08j34c0p; a=b 'x' (y),z.",
      });
      assert.deepEqual(parseStowContentType('multipart/related; boundary=abc'), { boundary: 'abc' }, 'a missing type is taken as DICOM parts');
    });

    it('answers 415 to a body that is not multipart/related', () => {
      for (const contentType of [undefined, 'application/dicom', 'multipart/form-data; boundary=abc', 'multipart/mixed; boundary=abc']) {
        assert.throws(() => parseStowContentType(contentType), httpError(415, /multipart\/related/));
      }
    });

    it('answers 415 to a multipart/related body whose type is not application/dicom', () => {
      for (const type of ['application/dicom+json', '"application/dicom+xml"', 'application/octet-stream']) {
        assert.throws(() => parseStowContentType(`multipart/related; type=${type}; boundary=abc`), httpError(415, /not supported/));
      }
    });

    it('answers 400 to a missing or unusable boundary', () => {
      assert.throws(() => parseStowContentType('multipart/related; type="application/dicom"'), httpError(400, /no boundary/));
      assert.throws(() => parseStowContentType('multipart/related; type="application/dicom"; boundary=""'), httpError(400, /no boundary/));
      assert.throws(() => parseStowContentType('multipart/related; type="application/dicom"; boundary="a\u00e9b"'), httpError(400, /not a valid boundary/));
    });
  });

  describe('finding the boundaries', () => {
    const body = multipartBody([
      { bytes: CT_SMALL },
      { headers: ['Content-Type: application/dicom', 'Content-Location: /instances/2'], bytes: LOOKALIKES },
      { bytes: MR_SMALL },
    ], { preamble: 'This is the preamble.\r\n--not-the-boundary', epilogue: '\r\nThis is the epilogue.\r\n' });

    for (const size of CHUNK_SIZES) {
      it(`finds every delimiter with the body in chunks of ${size} bytes`, () => {
        const parts = scan(body, size);
        assert.equal(parts.length, 3);
        assert.ok(parts[0]!.bytes.equals(CT_SMALL));
        assert.equal(parts[1]!.headers, 'Content-Type: application/dicom\r\nContent-Location: /instances/2');
        assert.ok(parts[1]!.bytes.equals(LOOKALIKES));
        assert.ok(parts[2]!.bytes.equals(MR_SMALL));
      });
    }

    it('keeps a CRLF that ends the part data: only the CRLF right before the delimiter is the delimiter’s', () => {
      const endsWithLineBreaks = Buffer.from('line\r\n\r\n');
      const parts = scan(multipartBody([{ bytes: endsWithLineBreaks }, { bytes: Buffer.alloc(0) }]), 1);
      assert.ok(parts[0]!.bytes.equals(endsWithLineBreaks));
      assert.equal(parts[1]!.bytes.length, 0);
    });

    it('takes transport padding after a boundary, a part without headers and a close delimiter without CRLF', () => {
      const body = Buffer.from(`--${BOUNDARY} \t\r\n\r\nfirst\r\n--${BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\nsecond\r\n--${BOUNDARY}--`);
      assert.deepEqual(scan(body, 3).map((part) => [part.headers, part.bytes.toString()]), [
        ['', 'first'],
        ['Content-Type: application/dicom', 'second'],
      ]);
    });

    it('rejects a boundary followed by anything but "--" or a line break', () => {
      const body = Buffer.from(`--${BOUNDARY}\r\n\r\nfirst\r\n--${BOUNDARY}X\r\n\r\nsecond\r\n--${BOUNDARY}--`);
      assert.throws(() => scan(body, 5), httpError(400, /malformed boundary delimiter/));
    });

    it('rejects a header block that never ends', () => {
      const body = Buffer.from(`--${BOUNDARY}\r\nX-Long: ${'a'.repeat(20_000)}`);
      assert.throws(() => scan(body, 1000), httpError(400, /headers of part 1 .* exceed/));
    });
  });

  describe('spooling the parts of a stream', () => {
    let tempDir: string;
    beforeEach(() => {
      tempDir = makeTempDir();
    });
    afterEach(() => {
      fs.rmSync(tempDir, { recursive: true, force: true });
    });

    const body = multipartBody([
      { headers: ['Content-Type: application/dicom', 'Content-Location: /instances/1'], bytes: JPEG2000 },
      { headers: ['content-type: Application/DICOM; transfer-syntax=1.2.840.10008.1.2.5'], bytes: LOOKALIKES },
      { headers: ['Content-Type: application/dicom+json'], bytes: Buffer.from('[{}]') },
      { headers: [], bytes: RLE_2FRAME },
    ], { preamble: 'preamble', epilogue: '\r\n' });

    for (const size of CHUNK_SIZES) {
      it(`spools every part byte for byte with the body in chunks of ${size} bytes`, async () => {
        const parts = await readParts(Readable.from(inChunks(body, size)), DICOM_CONTENT_TYPE, { tempDir });
        assert.deepEqual(parts.map((part) => part.number), [1, 2, 3, 4]);
        assert.deepEqual(parts.map((part) => part.mediaType), ['application/dicom', 'application/dicom', 'application/dicom+json', 'application/dicom']);
        assert.deepEqual(parts[1]!.mediaTypeParameters, { 'transfer-syntax': '1.2.840.10008.1.2.5' });
        assert.equal(parts[0]!.contentLocation, '/instances/1');
        for (const [index, expected] of [JPEG2000, LOOKALIKES, Buffer.from('[{}]'), RLE_2FRAME].entries()) {
          const part = parts[index]!;
          assert.ok(part.bytes.equals(expected), `part ${part.number} differs from what was sent`);
          assert.ok(part.held?.equals(expected), `part ${part.number} is held as sent`);
          assert.equal(part.size, expected.length);
          assert.equal(part.sha256, sha256(expected));
        }
        assert.deepEqual(filesIn(tempDir), [], 'the temporary files are gone once the loop ends');
      });
    }

    it('spools a part larger than what it holds in memory byte for byte (written as it arrives)', async () => {
      const large = largePart(3 * 1024 * 1024 + 17, 0);
      const parts = await readParts(Readable.from(inChunks(multipartBody(dicomParts(MR_SMALL, large, CT_SMALL)), 65536)), DICOM_CONTENT_TYPE, { tempDir });
      for (const [index, expected] of [MR_SMALL, large, CT_SMALL].entries()) {
        assert.ok(parts[index]!.bytes.equals(expected), `part ${index + 1} differs from what was sent`);
        assert.equal(parts[index]!.sha256, sha256(expected));
      }
      assert.deepEqual(parts.map((part) => part.held === undefined), [false, true, false], 'only the parts under 1 MiB are held whole');
      assert.ok(parts[2]!.held!.equals(CT_SMALL));
    });

    it('holds a part under 1 MiB in memory only: no file is made for it', async () => {
      for await (const part of readMultipartRelated(Readable.from(inChunks(multipartBody(dicomParts(CT_SMALL, MR_SMALL)), 1000)), DICOM_CONTENT_TYPE, { tempDir })) {
        assert.ok(part.bytes?.equals(part.number === 1 ? CT_SMALL : MR_SMALL));
        assert.equal(part.path, undefined);
        assert.deepEqual(filesIn(tempDir), []);
      }
    });

    it('creates the temporary directory when it is missing', async () => {
      const parts = await readParts(Readable.from([multipartBody(dicomParts(LARGE_1))]), DICOM_CONTENT_TYPE, { tempDir: path.join(tempDir, 'a', 'b') });
      assert.ok(parts[0]!.bytes.equals(LARGE_1));
    });

    it('hands over a part while the next one is still arriving', async () => {
      const source = new Readable({ read() {} });
      const first = multipartBody(dicomParts(LARGE_1, CT_SMALL));
      const secondPartStart = first.indexOf(`--${BOUNDARY}\r\n`, LARGE_1.length) + 40;
      source.push(first.subarray(0, secondPartStart));
      const parts = readMultipartRelated(source, DICOM_CONTENT_TYPE, { tempDir })[Symbol.asyncIterator]();
      const part1 = await parts.next();
      assert.equal(part1.done, false);
      assert.ok(fs.readFileSync(part1.value!.path!).equals(LARGE_1));
      source.push(first.subarray(secondPartStart));
      source.push(null);
      const part2 = await parts.next();
      assert.ok(part2.value!.bytes!.equals(CT_SMALL));
      assert.equal((await parts.next()).done, true);
      assert.deepEqual(filesIn(tempDir), []);
    });

    it('deletes a part’s file when the caller removes it, and every file when the caller stops early', async () => {
      const source = Readable.from(inChunks(multipartBody(dicomParts(LARGE_1, LARGE_2, LARGE_3)), 65536));
      for await (const part of readMultipartRelated(source, DICOM_CONTENT_TYPE, { tempDir })) {
        assert.ok(fs.existsSync(part.path!));
        await part.remove();
        await part.remove();
        assert.ok(!fs.existsSync(part.path!));
        break;
      }
      assert.deepEqual(filesIn(tempDir), []);
      await finished(source); // the rest of the body was read to its end, not destroyed
    });

    it('keeps a retained part’s file past the iteration, for the caller to remove', async () => {
      const source = Readable.from([multipartBody(dicomParts(LARGE_1, LARGE_2, LARGE_3))]);
      let retained: MultipartPart | undefined;
      for await (const part of readMultipartRelated(source, DICOM_CONTENT_TYPE, { tempDir })) {
        if (part.number === 2) {
          part.retain();
          retained = part;
        }
      }
      assert.deepEqual(filesIn(tempDir), [path.basename(retained!.path!)], 'the other parts are gone');
      assert.ok(fs.readFileSync(retained!.path!).equals(LARGE_2));
      await retained!.remove();
      assert.deepEqual(filesIn(tempDir), []);
    });

    it('stops at once when the caller stops, even while the client has stalled', async () => {
      const source = new Readable({ read() {} });
      source.push(multipartBody(dicomParts(MR_SMALL, LARGE_2)).subarray(0, MR_SMALL.length + 1024 * 1024 + 3000));
      for await (const part of readMultipartRelated(source, DICOM_CONTENT_TYPE, { tempDir })) {
        assert.equal(part.number, 1);
        await delay(20);
        assert.equal(filesIn(tempDir).length, 1, 'part 2 is being spooled');
        break;
      }
      assert.deepEqual(filesIn(tempDir), [], 'part 2, half spooled, is gone too');
      source.destroy();
    });

    it('spools at most one part ahead of the caller', async () => {
      const source = Readable.from([multipartBody(dicomParts(LARGE_1, LARGE_2, LARGE_3, LARGE_1))]);
      for await (const part of readMultipartRelated(source, DICOM_CONTENT_TYPE, { tempDir })) {
        await delay(20);
        assert.ok(filesIn(tempDir).length <= 2, `part ${part.number} and the next one at most are on disk`);
        await part.remove();
      }
      assert.deepEqual(filesIn(tempDir), []);
    });

    it('removes every temporary file when the caller fails', async () => {
      const source = Readable.from(inChunks(multipartBody(dicomParts(LARGE_1, LARGE_2, LARGE_3)), 65536));
      await assert.rejects(async () => {
        for await (const part of readMultipartRelated(source, DICOM_CONTENT_TYPE, { tempDir })) {
          if (part.number === 2) throw new Error('the caller failed');
        }
      }, /the caller failed/);
      assert.deepEqual(filesIn(tempDir), []);
    });

    it('gives a stream of the part’s bytes, held or spooled', async () => {
      const sent = [CT_SMALL, LARGE_1];
      for await (const part of readMultipartRelated(Readable.from([multipartBody(dicomParts(...sent))]), DICOM_CONTENT_TYPE, { tempDir })) {
        const chunks: Buffer[] = [];
        for await (const chunk of part.open()) chunks.push(chunk as Buffer);
        assert.ok(Buffer.concat(chunks).equals(sent[part.number - 1]!));
      }
    });

    const failures: { name: string; body: Buffer; status: number; message: RegExp; partsBefore: number }[] = [
      { name: 'ends inside a part', body: multipartBody(dicomParts(MR_SMALL, LARGE_2)).subarray(0, MR_SMALL.length + 1024 * 1024 + 5000), status: 400, message: /truncated: it ended in part 2/, partsBefore: 1 },
      { name: 'ends inside the part headers', body: Buffer.from(`--${BOUNDARY}\r\nContent-Type: appl`), status: 400, message: /truncated/, partsBefore: 0 },
      { name: 'ends right after a delimiter', body: multipartBody(dicomParts(MR_SMALL)).subarray(0, -2), status: 400, message: /truncated/, partsBefore: 1 },
      { name: 'is empty', body: Buffer.alloc(0), status: 400, message: /no part/, partsBefore: 0 },
      { name: 'has no delimiter', body: Buffer.from('just some bytes'), status: 400, message: /no part/, partsBefore: 0 },
      { name: 'only closes', body: Buffer.from(`--${BOUNDARY}--\r\n`), status: 400, message: /no part/, partsBefore: 0 },
      { name: 'has a part header line without a colon', body: multipartBody([{ headers: ['Content-Type application/dicom'], bytes: MR_SMALL }]), status: 400, message: /malformed header line/, partsBefore: 0 },
    ];
    for (const failure of failures) {
      it(`answers ${failure.status} to a body that ${failure.name}, after the parts complete before it, and leaves no file`, async () => {
        const seen: number[] = [];
        await assert.rejects(async () => {
          for await (const part of readMultipartRelated(Readable.from(inChunks(failure.body, 4096)), DICOM_CONTENT_TYPE, { tempDir })) seen.push(part.number);
        }, httpError(failure.status, failure.message));
        assert.equal(seen.length, failure.partsBefore);
        assert.deepEqual(filesIn(tempDir), []);
      });
    }

    it('answers 413 to a part larger than maxPartBytes and leaves no file', async () => {
      const source = Readable.from(inChunks(multipartBody(dicomParts(MR_SMALL, LARGE_3)), 65536));
      await assert.rejects(readParts(source, DICOM_CONTENT_TYPE, { tempDir, maxPartBytes: 2 * 1024 * 1024 }), httpError(413, /part 2 .* larger than the limit of 2097152 bytes/));
      assert.deepEqual(filesIn(tempDir), []);
    });

    it('answers 400 when the stream fails before the body ends, and leaves no file', async () => {
      const body = multipartBody(dicomParts(MR_SMALL, LARGE_2));
      const source = new Readable({ read() {} });
      source.push(body.subarray(0, MR_SMALL.length + 1024 * 1024 + 3000));
      setImmediate(() => source.destroy(new Error('socket hang up')));
      await assert.rejects(readParts(source, DICOM_CONTENT_TYPE, { tempDir }), httpError(400, /ended before it was complete/));
      assert.deepEqual(filesIn(tempDir), []);
    });

    it('throws 415 at once, before reading the body', () => {
      const source = Readable.from([Buffer.from('x')]);
      assert.throws(() => readMultipartRelated(source, 'application/json', { tempDir }), httpError(415, /multipart\/related/));
    });
  });

  describe('over HTTP', () => {
    let tempDir: string;
    let server: http.Server;
    let port: number;
    let settle: ((outcome: Outcome) => void) | undefined;

    interface ReceivedPart {
      number: number;
      mediaType: string;
      contentLocation?: string;
      size: number;
      sha256: string;
      /** Computed here from the bytes held or the spooled file, not taken from the parser. */
      fileSha256: string;
      fileSize: number;
    }
    interface Outcome {
      parts: ReceivedPart[];
      error?: unknown;
    }
    const nextOutcome = () => new Promise<Outcome>((resolve) => {
      settle = resolve;
    });

    before(async () => {
      tempDir = makeTempDir();
      const app = express();
      app.post('/studies', async (req, res) => {
        const parts: ReceivedPart[] = [];
        try {
          for await (const part of readMultipartRelated(req, req.get('content-type'), { tempDir, maxPartBytes: 300 * 1024 * 1024 })) {
            parts.push({
              number: part.number, mediaType: part.mediaType, contentLocation: part.contentLocation, size: part.size, sha256: part.sha256,
              ...(part.bytes ? { fileSha256: sha256(part.bytes), fileSize: part.bytes.length } : { fileSha256: await fileSha256(part.path), fileSize: (await fs.promises.stat(part.path)).size }),
            });
          }
        } catch (error) {
          settle?.({ parts, error });
          throw error;
        }
        settle?.({ parts });
        res.json({ parts });
      });
      app.use(errorHandler(pino({ level: 'silent' })));
      server = http.createServer(app);
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      port = (server.address() as AddressInfo).port;
    });
    after(async () => {
      server.closeAllConnections();
      server.close();
      fs.rmSync(tempDir, { recursive: true, force: true });
    });
    afterEach(() => {
      assert.deepEqual(filesIn(tempDir), [], 'no temporary file is left behind');
    });

    it('stores a chunked body of DICOM files byte for byte', async () => {
      const files = [CT_SMALL, PANORAMIC, MR_SMALL, CBCT_SLICE];
      const body = multipartBody(files.map((bytes, index) => ({ headers: ['Content-Type: application/dicom', `Content-Location: file${index}.dcm`], bytes })));
      const response = await post({ 'Content-Type': DICOM_CONTENT_TYPE }, inChunks(body, 100_000));
      assert.equal(response.status, 200, response.body);
      const { parts } = JSON.parse(response.body) as { parts: ReceivedPart[] };
      assert.equal(parts.length, files.length);
      for (const [index, bytes] of files.entries()) {
        assert.deepEqual(parts[index], {
          number: index + 1, mediaType: 'application/dicom', contentLocation: `file${index}.dcm`,
          size: bytes.length, sha256: sha256(bytes), fileSha256: sha256(bytes), fileSize: bytes.length,
        });
      }
    });

    it('stores a body sent with Content-Length, unquoted type and a boundary with "=", ":" and "+"', async () => {
      const boundary = 'uuid:1.2.3=4+5';
      const body = multipartBody(dicomParts(MR_SMALL, CT_SMALL), { boundary });
      const response = await rawRequest([
        'POST /studies HTTP/1.1', 'Host: localhost', 'Connection: close',
        `Content-Type: multipart/related; type=application/dicom; boundary=${boundary}`, `Content-Length: ${body.length}`,
      ], [body]);
      assert.equal(response.status, 200, response.body);
      assert.deepEqual((JSON.parse(response.body) as { parts: ReceivedPart[] }).parts.map((part) => part.fileSha256), [sha256(MR_SMALL), sha256(CT_SMALL)]);
    });

    it('stores a body whose quoted boundary holds spaces', async () => {
      const boundary = 'a boundary: with spaces';
      const body = multipartBody(dicomParts(JPEG2000), { boundary });
      const response = await post({ 'Content-Type': `multipart/related; boundary="${boundary}"; type="application/dicom"`, 'Content-Length': String(body.length) }, [body]);
      assert.equal(response.status, 200, response.body);
      assert.equal((JSON.parse(response.body) as { parts: ReceivedPart[] }).parts[0]!.fileSha256, sha256(JPEG2000));
    });

    const refusals: { name: string; contentType: string; status: number; message: RegExp }[] = [
      { name: 'a body that is not multipart/related', contentType: 'application/dicom', status: 415, message: /multipart\/related/ },
      { name: 'a multipart/related body of application/dicom+json', contentType: `multipart/related; type="application/dicom+json"; boundary=${BOUNDARY}`, status: 415, message: /not supported/ },
      { name: 'a body without a boundary', contentType: 'multipart/related; type="application/dicom"', status: 400, message: /no boundary/ },
    ];
    for (const refusal of refusals) {
      it(`answers ${refusal.status} to ${refusal.name}`, async () => {
        const response = await post({ 'Content-Type': refusal.contentType }, [multipartBody(dicomParts(MR_SMALL))]);
        assert.equal(response.status, refusal.status);
        const outcome = JSON.parse(response.body) as { resourceType: string; issue: { diagnostics: string }[] };
        assert.equal(outcome.resourceType, 'OperationOutcome');
        assert.match(outcome.issue[0]!.diagnostics, refusal.message);
      });
    }

    it('answers 400 to a body that ends before its closing delimiter', async () => {
      const outcome = nextOutcome();
      const response = await post({ 'Content-Type': DICOM_CONTENT_TYPE }, [multipartBody(dicomParts(MR_SMALL, CT_SMALL)).subarray(0, -30)]);
      assert.equal(response.status, 400);
      assert.match(response.body, /truncated/);
      assert.equal((await outcome).parts.length, 1);
    });

    it('answers 400 to a malformed body, and reads the rest of it so the connection serves the next request', async () => {
      const malformed = Buffer.concat([Buffer.from(`--${BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\nx\r\n--${BOUNDARY}!!\r\n`), Buffer.alloc(20_000_000, 'y')]);
      const valid = multipartBody(dicomParts(MR_SMALL));
      const text = await exchange([
        Buffer.from(`POST /studies HTTP/1.1\r\nHost: localhost\r\nContent-Type: ${DICOM_CONTENT_TYPE}\r\nContent-Length: ${malformed.length}\r\n\r\n`),
        malformed,
        Buffer.from(`POST /studies HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: ${DICOM_CONTENT_TYPE}\r\nContent-Length: ${valid.length}\r\n\r\n`),
        valid,
      ]);
      const statuses = [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((match) => match[1]);
      assert.deepEqual(statuses, ['400', '200']);
      assert.match(text, /malformed boundary delimiter/);
      assert.ok(text.includes(sha256(MR_SMALL)));
    });

    it('fails with 400 when the client closes the connection short of its Content-Length', async () => {
      const body = multipartBody(dicomParts(MR_SMALL, CT_SMALL));
      const outcome = nextOutcome();
      const socket = net.connect(port, '127.0.0.1');
      await once(socket, 'connect');
      socket.on('error', () => {});
      socket.write([
        'POST /studies HTTP/1.1', 'Host: localhost', `Content-Type: ${DICOM_CONTENT_TYPE}`, `Content-Length: ${body.length + 1000}`, '', '',
      ].join('\r\n'));
      socket.write(body);
      socket.end();
      const { error } = await outcome;
      assert.ok(error instanceof HttpError && error.status === 400 && /ended before it was complete/.test(error.message), String(error));
    });

    it('fails with 400 when the client drops a chunked body half-way, and leaves no file', async () => {
      const body = multipartBody(dicomParts(PANORAMIC));
      const outcome = nextOutcome();
      const socket = net.connect(port, '127.0.0.1');
      await once(socket, 'connect');
      socket.on('error', () => {});
      socket.write(['POST /studies HTTP/1.1', 'Host: localhost', `Content-Type: ${DICOM_CONTENT_TYPE}`, 'Transfer-Encoding: chunked', '', ''].join('\r\n'));
      const half = body.subarray(0, body.length / 2);
      socket.write(`${half.length.toString(16)}\r\n`);
      socket.write(half);
      socket.write('\r\n');
      await delay(50);
      socket.destroy();
      const { error, parts } = await outcome;
      assert.equal(parts.length, 0);
      assert.ok(error instanceof HttpError && error.status === 400, String(error));
    });

    it('streams a 200 MB part to its file without holding it in memory', async function () {
      this.timeout(180_000);
      const partSize = 200 * 1024 * 1024;
      // A block with near-delimiters in it, so that some straddle the chunks the server reads.
      const block = Buffer.alloc(64 * 1024 - 7, 0xab);
      LOOKALIKES.copy(block, block.length - 20);
      const head = Buffer.from(`--${BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n`);
      const tail = Buffer.from(`\r\n--${BOUNDARY}--\r\n`);
      const hash = createHash('sha256');
      async function* generate(): AsyncGenerator<Buffer> {
        yield head;
        for (let sent = 0; sent < partSize; sent += block.length) {
          const piece = block.subarray(0, Math.min(block.length, partSize - sent));
          hash.update(piece);
          yield piece;
        }
        yield tail;
      }
      const memory = new MemoryWatch();
      const response = await post({ 'Content-Type': DICOM_CONTENT_TYPE }, generate());
      const growth = memory.stop();
      assert.equal(response.status, 200, response.body);
      const [part] = (JSON.parse(response.body) as { parts: ReceivedPart[] }).parts;
      assert.equal(part!.fileSize, partSize);
      assert.equal(part!.size, partSize);
      assert.equal(part!.sha256, hash.digest('hex'));
      assert.equal(part!.fileSha256, part!.sha256);
      // Client and server share this process; both stream. A loose bound, far below the part's size.
      assert.ok(growth < 64 * 1024 * 1024, `memory grew by ${Math.round(growth / 1024 / 1024)} MB while 200 MB streamed through`);
    });

    /** Sends `pieces` (chunked unless a Content-Length is given), waiting for the socket to drain as it goes. */
    async function post(headers: Record<string, string>, pieces: Iterable<Buffer> | AsyncIterable<Buffer>): Promise<{ status: number; body: string }> {
      const request = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/studies', headers });
      const response = once(request, 'response') as Promise<[http.IncomingMessage]>;
      request.on('error', () => {}); // a server that answers early may close before everything is sent
      let answered = false;
      void response.then(() => {
        answered = true;
      }, () => {});
      for await (const piece of pieces) {
        if (answered) break; // answered early (an error): the rest would not be read
        if (!request.write(piece)) await Promise.race([once(request, 'drain'), response]);
      }
      request.end();
      const [message] = await response;
      let body = '';
      for await (const chunk of message) body += String(chunk);
      return { status: message.statusCode!, body };
    }

    async function rawRequest(head: string[], pieces: Buffer[]): Promise<{ status: number; body: string }> {
      const text = await exchange([Buffer.from(`${head.join('\r\n')}\r\n\r\n`), ...pieces]);
      const [status] = /^HTTP\/1\.1 (\d{3})/.exec(text)!.slice(1);
      return { status: Number(status), body: text.slice(text.indexOf('\r\n\r\n') + 4) };
    }

    /** Writes `pieces` to a new connection and reads until the server closes it. */
    async function exchange(pieces: Buffer[]): Promise<string> {
      const socket = net.connect(port, '127.0.0.1');
      await once(socket, 'connect');
      for (const piece of pieces) socket.write(piece);
      let text = '';
      for await (const chunk of socket) text += String(chunk);
      return text;
    }
  });
});

async function fileSha256(filePath: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of fs.createReadStream(filePath)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** The largest growth of V8 heap plus Buffer memory over its starting value, sampled while it runs. */
class MemoryWatch {
  readonly #baseline = MemoryWatch.#used();
  #peak = this.#baseline;
  readonly #timer = setInterval(() => {
    this.#peak = Math.max(this.#peak, MemoryWatch.#used());
  }, 10);

  stop(): number {
    clearInterval(this.#timer);
    this.#peak = Math.max(this.#peak, MemoryWatch.#used());
    return this.#peak - this.#baseline;
  }

  static #used(): number {
    const usage = process.memoryUsage();
    return usage.heapUsed + usage.arrayBuffers;
  }
}
