// Blob storage: one behavioural suite run against the file-system store and against S3 (s3rver over HTTP).
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import {
  BlobNotFoundError,
  BlobRangeNotSatisfiableError,
  CachedBlobStore,
  FsBlobStore,
  InvalidBlobKeyError,
  S3BlobStore,
  createBlobStore,
  createS3Client,
  type BlobRange,
  type BlobStore,
} from '../src/blob/index.ts';
import { DirectorySyncs } from '../src/blob/directory-sync.ts';
import { loadConfig } from '../src/config/index.ts';

/**
 * Starts s3rver on 127.0.0.1 at a free port. It runs in its own Node process because its
 * ListObjectsV2 continuation tokens are DES-encrypted, which OpenSSL 3 (Node >= 17) only offers
 * with the legacy provider. The server stops when told to, or when this process goes away.
 */
async function startS3rver(directory: string): Promise<{ port: number; stop(): Promise<void> }> {
  const s3rverModule = createRequire(import.meta.url).resolve('s3rver');
  const script = `
    const S3rver = require(${JSON.stringify(s3rverModule)});
    const server = new S3rver({ address: '127.0.0.1', port: 0, directory: ${JSON.stringify(directory)}, silent: true });
    server.run().then(({ port }) => process.stdout.write(JSON.stringify({ port }) + '\\n'));
    process.stdin.on('end', () => server.close().finally(() => process.exit(0)));
    process.stdin.resume();
  `;
  const child = spawn(process.execPath, ['--openssl-legacy-provider', '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = once(child, 'exit');
  const [firstLine] = await Promise.race([
    once(createInterface({ input: child.stdout }), 'line') as Promise<[string]>,
    exited.then(([code]) => { throw new Error(`s3rver exited with code ${code} before listening`); }),
  ]);
  const { port } = JSON.parse(firstLine) as { port: number };
  return {
    port,
    async stop() {
      child.stdin.end();
      await exited;
    },
  };
}

const MIB = 1024 * 1024;

/** Deterministic, non-repeating-per-chunk bytes, produced piecewise so the whole body is never in memory. */
function* generatedChunks(totalBytes: number, chunkBytes = 256 * 1024): Generator<Buffer> {
  for (let offset = 0; offset < totalBytes; offset += chunkBytes) {
    const chunk = Buffer.alloc(Math.min(chunkBytes, totalBytes - offset));
    for (let i = 0; i < chunk.length; i++) chunk[i] = ((offset + i) * 31 + ((offset + i) >>> 11)) & 0xff;
    yield chunk;
  }
}

function sha256OfChunks(chunks: Iterable<Buffer>): { size: number; sha256: string } {
  const hash = createHash('sha256');
  let size = 0;
  for (const chunk of chunks) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { size, sha256: hash.digest('hex') };
}

async function sha256OfStream(stream: Readable): Promise<{ size: number; sha256: string }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of stream) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { size, sha256: hash.digest('hex') };
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

function writtenFile(bytes: Buffer): string {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cusp-blob-file-')), 'blob');
  fs.writeFileSync(file, bytes);
  return file;
}

/** A source that delivers `bytesBeforeFailure` bytes and then errors, like a dropped upload connection. */
function failingSource(bytesBeforeFailure: number): Readable {
  return Readable.from((function* () {
    yield* generatedChunks(bytesBeforeFailure);
    throw new Error('client went away');
  })());
}

function behavesLikeABlobStore(store: () => BlobStore): void {
  const small = randomBytes(1000);

  it('puts a Buffer and reports its size and SHA-256', async () => {
    const result = await store().put('t/one/small', small, { contentType: 'application/dicom' });
    assert.deepEqual(result, { size: small.length, sha256: createHash('sha256').update(small).digest('hex') });
    assert.deepEqual(await readAll(await store().get('t/one/small')), small);
  });

  it('stores a local file with putFile; the file stays as it was, and removing it keeps the blob', async () => {
    const file = writtenFile(small);
    await store().putFile('t/file/received', file, { contentType: 'application/dicom' });
    assert.deepEqual(fs.readFileSync(file), small);
    fs.rmSync(path.dirname(file), { recursive: true });
    assert.deepEqual(await readAll(await store().get('t/file/received')), small);
    const replacement = writtenFile(Buffer.from('replaced'));
    await store().putFile('t/file/received', replacement);
    fs.rmSync(path.dirname(replacement), { recursive: true });
    assert.deepEqual(await readAll(await store().get('t/file/received')), Buffer.from('replaced'), 'an existing key is overwritten, as put does');
  });

  it('stores bytes held in memory with putFile, as put does', async () => {
    await store().putFile('t/file/held', small, { contentType: 'application/dicom' });
    assert.deepEqual(await readAll(await store().get('t/file/held')), small);
    await store().putFile('t/file/held', Buffer.from('replaced'));
    assert.deepEqual(await readAll(await store().get('t/file/held')), Buffer.from('replaced'), 'an existing key is overwritten, as put does');
  });

  it('streams a ~20 MB body through put and get without holding it in one Buffer', async () => {
    const expected = sha256OfChunks(generatedChunks(20 * MIB + 12345));
    const result = await store().put('t/one/large', Readable.from(generatedChunks(20 * MIB + 12345)));
    assert.deepEqual(result, expected);
    assert.deepEqual(await sha256OfStream(await store().get('t/one/large')), expected);
    assert.equal((await store().head('t/one/large'))?.size, expected.size);
  });

  it('returns exactly the requested byte range, inclusive of its end', async () => {
    await store().put('t/range/small', small);
    assert.deepEqual(await readAll(await store().get('t/range/small', { start: 100, end: 199 })), small.subarray(100, 200));
    assert.deepEqual(await readAll(await store().get('t/range/small', { start: 900 })), small.subarray(900));
    assert.deepEqual(await readAll(await store().get('t/range/small', { start: 999, end: 999 })), small.subarray(999));
    assert.deepEqual(await readAll(await store().get('t/range/small', { start: 990, end: 5000 })), small.subarray(990));
  });

  it('serves a range spanning the boundary between uploaded parts', async () => {
    const total = 12 * MIB;
    await store().put('t/range/large', Readable.from(generatedChunks(total)));
    const start = 5 * MIB - 10;
    const end = 8 * MIB + 10;
    const expected = Buffer.concat([...generatedChunks(total)]).subarray(start, end + 1);
    assert.deepEqual(await readAll(await store().get('t/range/large', { start, end })), expected);
  });

  it('rejects a range that starts past the end', async () => {
    await store().put('t/range/short', small);
    await assert.rejects(store().get('t/range/short', { start: small.length }), BlobRangeNotSatisfiableError);
  });

  it('reports size with head, and undefined when missing', async () => {
    await store().put('t/head/present', small);
    assert.equal((await store().head('t/head/present'))?.size, small.length);
    assert.equal(await store().head('t/head/absent'), undefined);
  });

  it('rejects get of a missing key with BlobNotFoundError', async () => {
    await assert.rejects(store().get('t/missing/blob'), BlobNotFoundError);
    await assert.rejects(store().get('t/missing/blob', { start: 0, end: 10 }), BlobNotFoundError);
  });

  it('overwrites an existing key', async () => {
    await store().put('t/overwrite/blob', Buffer.from('first version'));
    await store().put('t/overwrite/blob', Buffer.from('second'));
    assert.equal((await readAll(await store().get('t/overwrite/blob'))).toString(), 'second');
  });

  it('deletes, and deleting a missing key succeeds', async () => {
    await store().put('t/delete/blob', small);
    await store().delete('t/delete/blob');
    assert.equal(await store().head('t/delete/blob'), undefined);
    await assert.rejects(store().get('t/delete/blob'), BlobNotFoundError);
    await store().delete('t/delete/blob');
    await store().delete('t/delete/never-existed');
  });

  it('lists exactly the keys under a prefix', async () => {
    const keys = ['list/a/1', 'list/a/2', 'list/a/3', 'list/a/deep/4', 'list/ab/5', 'list/b/6', 'list/b/7'];
    const before = Date.now() - 2000; // S3 servers keep whole seconds
    for (const [index, key] of keys.entries()) await store().put(key, Buffer.alloc(index + 1));
    const listing = async (prefix: string) =>
      (await collect(store().list(prefix))).sort((x, y) => (x.key < y.key ? -1 : 1));
    const all = await listing('list/');
    for (const { key, lastModified } of all) {
      assert.ok(lastModified.getTime() >= before && lastModified.getTime() <= Date.now() + 2000, `${key} was last modified when it was put, not ${lastModified.toISOString()}`);
    }
    const listed = async (prefix: string) => (await listing(prefix)).map(({ key, size }) => ({ key, size }));

    assert.deepEqual(await listed('list/a/'), [
      { key: 'list/a/1', size: 1 },
      { key: 'list/a/2', size: 2 },
      { key: 'list/a/3', size: 3 },
      { key: 'list/a/deep/4', size: 4 },
    ]);
    assert.deepEqual((await listed('list/b/')).map((entry) => entry.key), ['list/b/6', 'list/b/7']);
    assert.deepEqual((await listed('list/a')).map((entry) => entry.key),
      ['list/a/1', 'list/a/2', 'list/a/3', 'list/a/deep/4', 'list/ab/5']);
    assert.deepEqual((await listed('list/')).map((entry) => entry.key), keys);
    assert.deepEqual(await listed('list/nothing/'), []);
  });

  it('rejects keys that could escape the storage root', async () => {
    for (const key of ['../escape', 't/../../escape', 'a/..', '/absolute', 'with space', 'back\\slash', 'a//b', 'a/./b', 'trailing/', '']) {
      await assert.rejects(store().put(key, small), InvalidBlobKeyError, `put ${JSON.stringify(key)}`);
      await assert.rejects(store().get(key), InvalidBlobKeyError, `get ${JSON.stringify(key)}`);
      await assert.rejects(store().head(key), InvalidBlobKeyError, `head ${JSON.stringify(key)}`);
      await assert.rejects(store().delete(key), InvalidBlobKeyError, `delete ${JSON.stringify(key)}`);
    }
    await assert.rejects(collect(store().list('../')), InvalidBlobKeyError);
    await assert.rejects(collect(store().list('/t')), InvalidBlobKeyError);
  });

  it('stores nothing when the source stream fails half-way', async () => {
    // Larger than one upload part, so S3 has already started a multipart upload when it fails.
    await assert.rejects(store().put('t/broken/blob', failingSource(6 * MIB)), /client went away/);
    assert.equal(await store().head('t/broken/blob'), undefined);
    assert.deepEqual(await collect(store().list('t/broken/')), []);
  });
}

describe('blob storage', () => {
  describe('file-system store', () => {
    let root: string;
    let store: FsBlobStore;

    before(() => {
      root = fs.mkdtempSync(path.join(os.tmpdir(), 'cusp-blobs-'));
      store = new FsBlobStore(path.join(root, 'blobs'));
    });
    after(() => fs.rmSync(root, { recursive: true, force: true }));

    behavesLikeABlobStore(() => store);

    it('leaves no temporary file behind when the source stream fails', async () => {
      await store.put('t/interrupted/kept', Buffer.from('a complete blob'));
      await assert.rejects(store.put('t/interrupted/lost', failingSource(3 * MIB)), /client went away/);
      assert.deepEqual(fs.readdirSync(path.join(root, 'blobs', 't', 'interrupted')), ['kept']);
    });

    it('writes into a directory removed since it last wrote there, with put and with putFile, leaving no temporary file', async () => {
      await store.put('t/removed/first', Buffer.from('first'));
      fs.rmSync(path.join(root, 'blobs', 't', 'removed'), { recursive: true });
      await store.put('t/removed/second', Buffer.from('second'));
      fs.rmSync(path.join(root, 'blobs', 't', 'removed'), { recursive: true });
      await store.putFile('t/removed/third', writtenFile(Buffer.from('third')));
      await store.putFile('t/removed/third', writtenFile(Buffer.from('third again')));
      assert.deepEqual(fs.readdirSync(path.join(root, 'blobs', 't', 'removed')), ['third']);
      assert.deepEqual(await readAll(await store.get('t/removed/third')), Buffer.from('third again'));
    });

    it('is what createBlobStore builds for BLOB_STORE=fs, under <dataDir>/blobs (with BLOB_CACHE_MB=0; else behind a cache)', async () => {
      assert.ok(createBlobStore(loadConfig({ DATA_DIR: root })) instanceof CachedBlobStore);
      const config = loadConfig({ DATA_DIR: root, BLOB_CACHE_MB: '0' });
      const created = createBlobStore(config);
      assert.ok(created instanceof FsBlobStore);
      await created.put('t/factory/blob', Buffer.from('x'));
      assert.ok(fs.existsSync(path.join(root, 'blobs', 't', 'factory', 'blob')));
    });
  });

  describe('directory syncs', () => {
    /** A sync of its own, which the test ends: each start is recorded with the function that ends it. */
    function controlledSyncs() {
      const started: { directory: string; end(error?: Error): void }[] = [];
      const syncs = new DirectorySyncs((directory) => new Promise<void>((resolve, reject) => {
        started.push({ directory, end: (error) => (error ? reject(error) : resolve()) });
      }));
      return { syncs, started };
    }
    const settledYet = async (promise: Promise<unknown>) => {
      let settled = false;
      void promise.then(() => (settled = true), () => (settled = true));
      await new Promise((resolve) => setImmediate(resolve));
      return settled;
    };

    it('makes the callers who arrive during a sync wait for the next one, which they share', async () => {
      const { syncs, started } = controlledSyncs();
      const first = syncs.sync('d');
      const second = syncs.sync('d');
      const third = syncs.sync('d');
      assert.equal(started.length, 1, 'one sync at a time');
      started[0]!.end();
      await first;
      assert.equal(await settledYet(second), false, 'the sync under way began before the second caller came: it does not cover it');
      assert.equal(started.length, 2);
      started[1]!.end();
      await Promise.all([second, third]);
      assert.equal(started.length, 2, 'the second and third callers shared one sync');
      const fourth = syncs.sync('d');
      assert.equal(started.length, 3, 'with none under way, a sync starts at once');
      started[2]!.end();
      await fourth;
    });

    it('syncs different directories independently, and fails only the callers of a failed sync', async () => {
      const { syncs, started } = controlledSyncs();
      const a = syncs.sync('a');
      const b = syncs.sync('b');
      assert.deepEqual(started.map((sync) => sync.directory), ['a', 'b']);
      const aAgain = syncs.sync('a');
      started[0]!.end(new Error('EIO'));
      await assert.rejects(a, /EIO/);
      started[2]!.end();
      await aAgain;
      started[1]!.end();
      await b;
    });

    it('keeps every blob stored at once into one directory, with put and with putFile', async () => {
      const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cusp-blobs-'));
      try {
        const store = new FsBlobStore(root);
        const bodies = Array.from({ length: 40 }, (_, i) => Buffer.from(`blob ${i}`));
        await Promise.all(bodies.map((body, i) => (i % 2 === 0 ? store.put(`t/same/${i}`, body) : store.putFile(`t/same/${i}`, writtenFile(body)))));
        for (const [i, body] of bodies.entries()) assert.deepEqual(await readAll(await store.get(`t/same/${i}`)), body);
      } finally {
        fs.rmSync(root, { recursive: true, force: true });
      }
    });
  });

  describe('cache of whole blobs', () => {
    let root: string;
    let files: FsBlobStore;
    let cached: CachedBlobStore;
    const fileOf = (key: string) => path.join(root, 'blobs', key);
    const bytes = (length: number, fill: number) => Buffer.alloc(length, fill);

    beforeEach(() => {
      root = fs.mkdtempSync(path.join(os.tmpdir(), 'cusp-blob-cache-'));
      files = new FsBlobStore(path.join(root, 'blobs'));
      cached = new CachedBlobStore(files, { maxBytes: 100, maxEntryBytes: 50 });
    });
    afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

    behavesLikeABlobStore(() => cached);

    it('serves a blob read whole once from memory, whole or in ranges', async () => {
      await cached.put('t/hit', bytes(40, 1));
      assert.deepEqual(await readAll(await cached.get('t/hit')), bytes(40, 1));
      fs.rmSync(fileOf('t/hit'));
      assert.deepEqual(await readAll(await cached.get('t/hit')), bytes(40, 1), 'no longer in the store: from memory');
      assert.deepEqual(await readAll(await cached.get('t/hit', { start: 10, end: 14 })), bytes(5, 1));
      assert.deepEqual(await readAll(await cached.get('t/hit', { start: 30 })), bytes(10, 1));
      await assert.rejects(cached.get('t/hit', { start: 40 }), BlobRangeNotSatisfiableError);
      assert.equal(cached.size, 40);
    });

    it('hands out bytes the reader may change: neither the read that fills it nor one it serves changes what it keeps', async () => {
      await cached.put('t/owned', bytes(40, 5));
      for (let read = 0; read < 3; read++) {
        for await (const chunk of await cached.get('t/owned', read === 2 ? { start: 0, end: 9 } : undefined)) {
          assert.equal((chunk as Buffer)[0], 5, `read ${read}`);
          (chunk as Buffer).fill(0);
        }
      }
    });

    it('keeps neither a range read nor a blob larger than its entry limit', async () => {
      await cached.put('t/range', bytes(40, 2));
      await cached.put('t/large', bytes(60, 3));
      assert.deepEqual(await readAll(await cached.get('t/range', { start: 0, end: 9 })), bytes(10, 2));
      assert.deepEqual(await readAll(await cached.get('t/large')), bytes(60, 3));
      assert.equal(cached.size, 0);
      fs.rmSync(fileOf('t/large'));
      await assert.rejects(cached.get('t/large'), BlobNotFoundError);
    });

    it('reads a small blob whole for a range when told its size, once for readers at the same time, and keeps it', async () => {
      await cached.put('t/small', Buffer.from(Array.from({ length: 40 }, (_, i) => i)));
      await cached.put('t/big', bytes(60, 3));
      const reads: (BlobRange | undefined)[] = [];
      const inner = files.get.bind(files);
      files.get = (key, range) => {
        reads.push(range);
        return inner(key, range);
      };
      const [first, second] = await Promise.all([
        cached.get('t/small', { start: 10, end: 12 }, { blobSize: 40 }),
        cached.get('t/small', { start: 38 }, { blobSize: 40 }),
      ]);
      assert.deepEqual(await readAll(first!), Buffer.from([10, 11, 12]));
      assert.deepEqual(await readAll(second!), Buffer.from([38, 39]));
      assert.deepEqual(reads, [undefined], 'one read of the whole blob');
      assert.equal(cached.size, 40);
      fs.rmSync(fileOf('t/small'));
      assert.deepEqual(await readAll(await cached.get('t/small', { start: 0, end: 1 }, { blobSize: 40 })), Buffer.from([0, 1]), 'from memory');

      assert.deepEqual(await readAll(await cached.get('t/big', { start: 0, end: 9 }, { blobSize: 60 })), bytes(10, 3));
      assert.deepEqual(reads.at(-1), { start: 0, end: 9 }, 'larger than an entry may be: read by range, not kept');
      assert.equal(cached.size, 40);
    });

    it('drops the least recently read blob first, and a blob written or deleted through it', async () => {
      for (const [key, fill] of [['t/a', 1], ['t/b', 2], ['t/c', 3]] as const) await cached.put(key, bytes(40, fill));
      await readAll(await cached.get('t/a'));
      await readAll(await cached.get('t/b'));
      await readAll(await cached.get('t/a'));
      await readAll(await cached.get('t/c'));
      assert.equal(cached.size, 80, 'b went to make room for c');
      for (const key of ['t/a', 't/b', 't/c']) fs.rmSync(fileOf(key));
      assert.deepEqual(await readAll(await cached.get('t/a')), bytes(40, 1));
      assert.deepEqual(await readAll(await cached.get('t/c')), bytes(40, 3));
      await assert.rejects(cached.get('t/b'), BlobNotFoundError);

      await cached.put('t/a', bytes(30, 4));
      assert.deepEqual(await readAll(await cached.get('t/a')), bytes(30, 4), 'written again: the new bytes');
      await cached.delete('t/c');
      await assert.rejects(cached.get('t/c'), BlobNotFoundError);
      assert.equal(cached.size, 30);
    });
  });

  describe('S3 store (s3rver)', () => {
    const bucket = 'cusp-test-blobs';
    let directory: string;
    let server: Awaited<ReturnType<typeof startS3rver>>;
    let client: S3Client;
    let store: S3BlobStore;

    before(async () => {
      directory = fs.mkdtempSync(path.join(os.tmpdir(), 'cusp-s3rver-'));
      server = await startS3rver(directory);
      const config = loadConfig({
        BLOB_STORE: 's3',
        S3_BUCKET: bucket,
        S3_ENDPOINT: `http://127.0.0.1:${server.port}`,
        S3_REGION: 'us-east-1',
        S3_FORCE_PATH_STYLE: 'true',
      });
      assert.ok(config.s3);
      client = createS3Client(config.s3, { credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
      // Small pages force the listing to follow continuation tokens; 5 MiB is S3's smallest part.
      store = new S3BlobStore({ client, bucket, pageSize: 2, partSize: 5 * MIB });
    });
    after(async () => {
      client?.destroy();
      await server?.stop();
      fs.rmSync(directory, { recursive: true, force: true });
    });

    behavesLikeABlobStore(() => store);

    it('keeps the content type given to put', async () => {
      await store.put('t/typed/blob', Buffer.from('DICM'), { contentType: 'application/dicom' });
      assert.equal((await store.head('t/typed/blob'))?.contentType, 'application/dicom');
    });
  });
});
