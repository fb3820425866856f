// Rendered and thumbnail resources (PS3.18 10.4.1.1.3, 10.4.1.1.4, query parameters of 8.3.5.1) and
// WADO-URI (PS3.18 9), on the sample files: images decode (with sharp) to the size asked, windows
// follow PS3.3 C.11.2.1.2, pixels agree with DCMTK's dcmj2pnm, compressed frames render like their
// uncompressed originals, and another tenant sees nothing.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { parseInstanceBuffer, parseInstanceFile } from '../src/dicom/index.ts';
import { startTestApp, tenantWithToken, type TestApp } from './support/app.ts';
import { asBinary, dicomwebClient, multipartParts, pydicomFile, storeFiles, syntheticStudy, SYNTHETIC_MULTIFRAME } from './support/dicomweb.ts';
import { listeningTenantWithToken, startListeningApp, type ListeningApp } from './support/listening.ts';

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'cusp-rendered-'));
const READ = ['system/ImagingStudy.read'];

interface Uids {
  study: string;
  series: string;
  instance: string;
}

async function uidsOf(file: string): Promise<Uids> {
  const { attributes } = await parseInstanceFile(file);
  return { study: attributes.StudyInstanceUID, series: attributes.SeriesInstanceUID, instance: attributes.SOPInstanceUID };
}

const instanceUrl = (uids: Uids) => `/dicomweb/studies/${uids.study}/series/${uids.series}/instances/${uids.instance}`;
const wadoUri = (uids: Uids, extra = '') => `/dicomweb/wado?requestType=WADO&studyUID=${uids.study}&seriesUID=${uids.series}&objectUID=${uids.instance}${extra}`;

const EXPLICIT_LE = '1.2.840.10008.1.2.1';

/** The pixels of a JPEG or PNG, one channel for a grayscale image, three for colour. */
async function decoded(image: Buffer) {
  const grayscale = (await sharp(image).metadata()).channels === 1;
  const { data, info } = await (grayscale ? sharp(image).toColourspace('b-w') : sharp(image)).raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: info.channels };
}

/** DCMTK's rendering of `file` as an 8-bit PNG with dcmj2pnm `options` (e.g. +Ww center width, +F frame). */
function dcmtkRendering(file: string, ...options: string[]): Buffer {
  const output = path.join(scratch, `dcmtk-${Math.random().toString(36).slice(2)}.png`);
  execFileSync('dcmj2pnm', ['-q', ...options, '+on', file, output]);
  return fs.readFileSync(output);
}

/** Largest and mean absolute difference of two decoded images of the same size and channels. */
function difference(a: { data: Buffer; width: number; height: number; channels: number }, b: typeof a) {
  assert.deepEqual([a.width, a.height, a.channels], [b.width, b.height, b.channels], 'same size and channels');
  let largest = 0;
  let sum = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = Math.abs(a.data[i]! - b.data[i]!);
    largest = Math.max(largest, d);
    sum += d;
  }
  return { largest, mean: sum / a.data.length };
}

/** The stored values of frame `index` of an uncompressed 16-bit unsigned little-endian file. */
async function storedValues16(file: string, index: number): Promise<number[]> {
  const parsed = await parseInstanceFile(file);
  const range = parsed.pixelData!.frames![index]!.ranges[0]!;
  const bytes = fs.readFileSync(file).subarray(range.offset, range.offset + range.length);
  return Array.from({ length: bytes.length / 2 }, (_, i) => bytes.readUInt16LE(2 * i));
}

describe('DICOMweb rendered resources, thumbnails and WADO-URI', function () {
  this.timeout(120_000);
  let app: TestApp;
  let token: string;
  let otherToken: string;
  const uids: Record<string, Uids> = {};
  /** Files that share UIDs with others are each stored for a tenant of their own. */
  const ownTenantToken: Record<string, string> = {};

  const MAIN_FILES = [
    ...syntheticStudy('01-io'), ...syntheticStudy('03-ct'), ...syntheticStudy('04-xc'), SYNTHETIC_MULTIFRAME,
    ...['CT_small.dcm', 'MR_small.dcm', 'ExplVR_BigEnd.dcm', 'SC_ybr_full_422_uncompressed.dcm', 'SC_rgb_jpeg_dcmtk.dcm',
      'SC_rgb_dcmtk_+eb+cy+np.dcm', 'JPGExtended.dcm', 'JPEG2000.dcm', 'SC_rgb_rle_2frame.dcm', 'liver_1frame.dcm', 'rtdose.dcm',
      'test-SR.dcm', 'image_dfl.dcm'].map(pydicomFile),
  ];
  const OWN_TENANT_FILES = ['MR_small_RLE.dcm', 'MR_small_jp2klossless.dcm', 'MR_small_jpeg_ls_lossless.dcm', 'MR_small_bigendian.dcm',
    'MR_small_implicit.dcm', 'SC_rgb_jpeg_gdcm.dcm', 'SC_rgb_rle_16bit_2frame.dcm'];

  const get = (url: string, accept?: string, bearer = token) => {
    const request = app.request.get(url).set('Authorization', `Bearer ${bearer}`);
    return asBinary(accept === undefined ? request : request.set('Accept', accept));
  };
  const file = (name: string) => (name.includes('/') ? name : pydicomFile(name));
  const uidsOfFile = (name: string) => uids[file(name)]!;
  const rendered = (name: string, query = '', accept?: string) => get(`${instanceUrl(uidsOfFile(name))}/rendered${query}`, accept);
  const renderedPng = async (name: string, query = '', bearer = token) => {
    const response = await get(`${instanceUrl(uidsOfFile(name))}/rendered${query}`, 'image/png', bearer);
    assert.equal(response.status, 200, String(response.body));
    assert.equal(response.get('content-type'), 'image/png');
    return decoded(response.body);
  };
  const io = syntheticStudy('01-io')[0]!;
  const ct = syntheticStudy('03-ct');
  const photo = syntheticStudy('04-xc')[0]!;

  before(async () => {
    app = await startTestApp();
    let tenantId: string;
    ({ tenantId, token } = await tenantWithToken(app, READ));
    ({ token: otherToken } = await tenantWithToken(app, READ));
    for (const result of await storeFiles(app.services, tenantId, MAIN_FILES)) assert.ok(result.stored, JSON.stringify(result));
    for (const name of OWN_TENANT_FILES) {
      const own = await tenantWithToken(app, READ);
      const [result] = await storeFiles(app.services, own.tenantId, [pydicomFile(name)]);
      assert.ok(result!.stored, JSON.stringify(result));
      ownTenantToken[name] = own.token;
    }
    for (const stored of [...MAIN_FILES, ...OWN_TENANT_FILES.map(pydicomFile)]) uids[stored] = await uidsOf(stored);
  });
  after(async () => {
    await app.close();
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  describe('rendered instance (PS3.18 10.4.1.1.3)', () => {
    it('is a baseline image/jpeg of Columns x Rows by default, and audited', async () => {
      const response = await rendered(io);
      assert.equal(response.status, 200, String(response.body));
      assert.equal(response.get('content-type'), 'image/jpeg');
      const metadata = await sharp(response.body).metadata();
      assert.deepEqual([metadata.format, metadata.width, metadata.height, metadata.isProgressive], ['jpeg', 1300, 1000, false]);
      const events = await app.services.db.platform((trx) => trx('audit_events')
        .where({ event_type: 'DICOM_RETRIEVE' }).whereRaw(`metadata->>'path' like ?`, [`%${uidsOfFile(io).instance}/rendered`]));
      assert.equal(events.length, 1, 'one DICOM_RETRIEVE audit event for the read');
    });

    it('answers the media type chosen by Accept (q-values, wildcards, multipart type) or by the accept query parameter', async () => {
      const cases: [string | undefined, string][] = [
        ['image/png', 'image/png'],
        ['image/jpeg;q=0.5, image/png', 'image/png'],
        ['image/png;q=0.4, image/*;q=0.6', 'image/jpeg'],
        ['image/*', 'image/jpeg'],
        ['*/*', 'image/jpeg'],
        ['image/jpeg;q=0, */*;q=0.1', 'image/png'],
        ['image/jpeg;q=0, */*', 'image/png'],
        ['multipart/related; type="image/jpeg"; q=0, */*', 'image/png'],
        ['multipart/related; type="image/png"', 'image/png'],
        ['image/gif, image/png;q=0.2', 'image/png'],
      ];
      for (const [accept, expected] of cases) {
        const response = await rendered('MR_small.dcm', '', accept);
        assert.equal(response.status, 200, `${accept}: ${response.body}`);
        assert.equal(response.get('content-type'), expected, String(accept));
        assert.equal((await sharp(response.body).metadata()).format, expected.slice('image/'.length));
      }
      const byParameter = await rendered('MR_small.dcm', '?accept=image/png', 'image/jpeg');
      assert.equal(byParameter.get('content-type'), 'image/png');
    });

    it('is 406 for media types that are not rendered', async () => {
      for (const accept of ['image/gif', 'application/dicom', 'image/png;q=0, image/jpeg;q=0', 'video/mp4']) {
        const response = await rendered('MR_small.dcm', '', accept);
        assert.equal(response.status, 406, accept);
        assert.equal(JSON.parse(String(response.body)).resourceType, 'OperationOutcome');
      }
    });

    it('scales to fit the viewport keeping the aspect ratio, crops a source region, and flips on a negative extent', async () => {
      const fitted = await renderedPng(io, '?viewport=650,650');
      assert.deepEqual([fitted.width, fitted.height], [650, 500]);
      const enlarged = await renderedPng('MR_small.dcm', '?viewport=128,256');
      assert.deepEqual([enlarged.width, enlarged.height], [128, 128]);
      const region = await renderedPng(io, '?viewport=100,100,200,100,400,200');
      assert.deepEqual([region.width, region.height], [100, 50]);

      const whole = await renderedPng('MR_small.dcm');
      const crop = await renderedPng('MR_small.dcm', '?viewport=32,16,8,4,32,16');
      const flipped = await renderedPng('MR_small.dcm', '?viewport=32,16,40,4,-32,16');
      for (let y = 0; y < 16; y++) {
        for (let x = 0; x < 32; x++) {
          assert.equal(crop.data[y * 32 + x], whole.data[(y + 4) * 64 + x + 8], `crop pixel ${x},${y}`);
          assert.equal(flipped.data[y * 32 + x], whole.data[(y + 4) * 64 + 8 + 31 - x], `flipped pixel ${x},${y}`);
        }
      }
    });

    it('applies window=center,width,function as PS3.3 C.11.2.1 defines, after the rescale', async () => {
      const slice = ct[7]!; // CT slice: stored value - 1024 = HU
      const stored = await storedValues16(slice, 0);
      const linear = (x: number, c: number, w: number) =>
        x <= c - 0.5 - (w - 1) / 2 ? 0 : x > c - 0.5 + (w - 1) / 2 ? 255 : ((x - (c - 0.5)) / (w - 1) + 0.5) * 255;
      const exact = (x: number, c: number, w: number) => (x <= c - w / 2 ? 0 : x > c + w / 2 ? 255 : ((x - c) / w + 0.5) * 255);
      const sigmoid = (x: number, c: number, w: number) => 255 / (1 + Math.exp((-4 * (x - c)) / w));
      const cases: [string, (x: number) => number][] = [
        ['400,2000,linear', (x) => linear(x, 400, 2000)],
        ['400,2000', (x) => linear(x, 400, 2000)],
        ['0,300,linear-exact', (x) => exact(x, 0, 300)],
        ['200,800,sigmoid', (x) => sigmoid(x, 200, 800)],
        ['500,1,linear', (x) => linear(x, 500, 1)],
      ];
      for (const [window, expected] of cases) {
        const png = await renderedPng(slice, `?window=${window}`);
        let largest = 0;
        stored.forEach((value, i) => { largest = Math.max(largest, Math.abs(png.data[i]! - expected(value - 1024))); });
        assert.ok(largest <= 1, `window ${window}: differs by ${largest}`);
      }
      const narrow = await renderedPng(slice, '?window=0,2');
      const wide = await renderedPng(slice, '?window=0,20000');
      assert.notDeepEqual(narrow.data, wide.data, 'another window gives other pixel values');
    });

    it('agrees with DCMTK dcmj2pnm on uncompressed MONOCHROME2: the stored window, a window asked, and min-max without one', async () => {
      const comparisons: [string, string, string[]][] = [
        ['MR_small.dcm', '', ['+Wi', '1']],
        ['MR_small.dcm', '?window=300,700,linear', ['+Ww', '300', '700']],
        [io, '', ['+Wi', '1']],
        [ct[3]!, '?window=40,400', ['+Ww', '40', '400']],
        ['CT_small.dcm', '', ['+Wm']],
        ['rtdose.dcm', '', ['+Wm']],
      ];
      for (const [name, query, options] of comparisons) {
        const ours = await renderedPng(name, query);
        const dcmtk = await decoded(dcmtkRendering(file(name), ...options));
        const { largest } = difference(ours, dcmtk);
        assert.ok(largest <= 1, `${path.basename(name)} ${query} vs dcmj2pnm ${options.join(' ')}: differs by ${largest}`);
      }
    });

    it('renders RGB, planar big-endian RGB and YBR_FULL_422 in colour, as DCMTK does', async () => {
      const xc = await renderedPng(photo);
      assert.deepEqual([xc.width, xc.height, xc.channels], [1024, 768, 3]);
      let coloured = 0;
      for (let i = 0; i < xc.data.length; i += 3) if (xc.data[i] !== xc.data[i + 1] || xc.data[i + 1] !== xc.data[i + 2]) coloured++;
      assert.ok(coloured > xc.data.length / 30, 'the photo has coloured pixels');
      for (const name of [photo, 'ExplVR_BigEnd.dcm', 'SC_ybr_full_422_uncompressed.dcm']) {
        const { largest } = difference(await renderedPng(name), await decoded(dcmtkRendering(file(name))));
        assert.ok(largest <= 2, `${path.basename(name)}: differs from dcmj2pnm by ${largest}`);
      }
    });

    it('renders compressed frames: lossless ones exactly like the uncompressed original, lossy ones like DCMTK', async () => {
      const original = await renderedPng('MR_small.dcm');
      for (const name of ['MR_small_RLE.dcm', 'MR_small_jp2klossless.dcm', 'MR_small_jpeg_ls_lossless.dcm', 'MR_small_bigendian.dcm', 'MR_small_implicit.dcm']) {
        const png = await renderedPng(name, '', ownTenantToken[name]);
        assert.deepEqual(png.data, original.data, name);
      }
      for (const name of ['SC_rgb_jpeg_dcmtk.dcm', 'SC_rgb_dcmtk_+eb+cy+np.dcm', 'SC_rgb_rle_2frame.dcm']) {
        const { largest, mean } = difference(await renderedPng(name), await decoded(dcmtkRendering(file(name))));
        assert.ok(largest <= 3 && mean < 0.5, `${name}: differs from dcmj2pnm by ${largest} (mean ${mean})`);
      }
      const jpegLossless = await renderedPng('SC_rgb_jpeg_gdcm.dcm', '', ownTenantToken['SC_rgb_jpeg_gdcm.dcm']);
      assert.equal(difference(jpegLossless, await decoded(dcmtkRendering(pydicomFile('SC_rgb_jpeg_gdcm.dcm')))).largest, 0);
      const rle16 = await renderedPng('SC_rgb_rle_16bit_2frame.dcm', '', ownTenantToken['SC_rgb_rle_16bit_2frame.dcm']);
      assert.equal(rle16.channels, 3);
      for (const name of ['JPGExtended.dcm', 'JPEG2000.dcm']) {
        const png = await renderedPng(name);
        assert.deepEqual([png.width, png.height, png.channels], [256, 1024, 1], name);
      }
      const jpegExtended = await renderedPng('JPGExtended.dcm', '?window=2048,4096');
      const { mean } = difference(jpegExtended, await decoded(dcmtkRendering(pydicomFile('JPGExtended.dcm'), '+Ww', '2048', '4096')));
      assert.ok(mean < 1, `JPEG extended 12-bit differs from dcmj2pnm by ${mean} on average`);
    });

    it('renders a deflated data set, and single-bit segmentation pixels', async () => {
      const deflated = await renderedPng('image_dfl.dcm');
      assert.deepEqual([deflated.width, deflated.height], [512, 512]);
      assert.equal(difference(deflated, await decoded(dcmtkRendering(pydicomFile('image_dfl.dcm'), '+Wm'))).largest, 0);
      const segmentation = await renderedPng('liver_1frame.dcm');
      assert.deepEqual([segmentation.width, segmentation.height], [512, 512]);
      assert.deepEqual([...new Set(segmentation.data)].sort((a, b) => a - b), [0, 255]);
    });

    it('renders the first frame of a multi-frame instance; frames/{n}/rendered gives frame n; a frame list is multipart/related', async () => {
      const first = await renderedPng(SYNTHETIC_MULTIFRAME);
      const fifth = await get(`${instanceUrl(uidsOfFile(SYNTHETIC_MULTIFRAME))}/frames/5/rendered`, 'image/png');
      assert.equal(fifth.status, 200);
      const fifthPixels = await decoded(fifth.body);
      assert.equal(difference(first, await decoded(dcmtkRendering(SYNTHETIC_MULTIFRAME, '+Wi', '1'))).largest <= 1, true);
      assert.ok(difference(fifthPixels, await decoded(dcmtkRendering(SYNTHETIC_MULTIFRAME, '+Wi', '1', '+F', '5'))).largest <= 1);
      assert.notDeepEqual(fifthPixels.data, first.data);

      const list = await get(`${instanceUrl(uidsOfFile(SYNTHETIC_MULTIFRAME))}/frames/5,1,16/rendered`, 'multipart/related; type="image/png"');
      assert.equal(list.status, 200);
      assert.match(list.get('content-type')!, /^multipart\/related; type="image\/png"; boundary=/);
      const parts = multipartParts(list.body, list.get('content-type')!);
      assert.equal(parts.length, 3);
      assert.ok(parts.every((part) => part.headers['content-type'] === 'image/png'));
      assert.deepEqual((await decoded(parts[0]!.body)).data, fifthPixels.data);
      assert.deepEqual((await decoded(parts[1]!.body)).data, first.data);

      const dose = await get(`${instanceUrl(uidsOfFile('rtdose.dcm'))}/frames/15/rendered`, 'image/png');
      assert.equal(dose.status, 200);
      const rleSecond = await get(`${instanceUrl(uidsOfFile('SC_rgb_rle_2frame.dcm'))}/frames/2/rendered`, 'image/png');
      assert.ok(difference(await decoded(rleSecond.body), await decoded(dcmtkRendering(pydicomFile('SC_rgb_rle_2frame.dcm'), '+F', '2'))).largest <= 3);
    });

    it('reads only the bytes of the frame it renders from the blob store', async () => {
      const blobs = app.services.blobs;
      const original = blobs.get;
      const lengths: (number | undefined)[] = [];
      blobs.get = (key, range) => {
        lengths.push(range?.end === undefined ? undefined : range.end - range.start + 1);
        return original.call(blobs, key, range);
      };
      try {
        assert.equal((await get(`${instanceUrl(uidsOfFile(SYNTHETIC_MULTIFRAME))}/frames/9/rendered`)).status, 200);
        assert.deepEqual(lengths, [256 * 256 * 2], 'one read of one 256 x 256 x 16-bit frame');
        lengths.length = 0;
        assert.equal((await get(`${instanceUrl(uidsOfFile('JPEG2000.dcm'))}/rendered`)).status, 200);
        assert.equal(lengths.length, 1);
        assert.ok(lengths[0]! < fs.statSync(pydicomFile('JPEG2000.dcm')).size - 1000, 'the encoded frame, not the file');
      } finally {
        blobs.get = original;
      }
    });

    it('is 404 for a frame the instance does not have, 400 for a malformed frame list', async () => {
      const base = `${instanceUrl(uidsOfFile(SYNTHETIC_MULTIFRAME))}/frames`;
      assert.equal((await get(`${base}/17/rendered`)).status, 404);
      assert.equal((await get(`${base}/1,17/rendered`)).status, 404);
      for (const list of ['0', 'a', '1,,2', '-1', '1.5']) assert.equal((await get(`${base}/${list}/rendered`)).status, 400, list);
    });

    it('is 406 for an instance without pixel data (a structured report)', async () => {
      const response = await rendered('test-SR.dcm');
      assert.equal(response.status, 406);
      assert.match(JSON.parse(String(response.body)).issue[0].diagnostics, /no Pixel Data/);
      assert.equal((await get(`/dicomweb/studies/${uidsOfFile('test-SR.dcm').study}/rendered`)).status, 406);
      assert.equal((await get(`${instanceUrl(uidsOfFile('test-SR.dcm'))}/thumbnail`)).status, 406);
    });

    it('is 400 for malformed query parameters', async () => {
      const queries = [
        'window=abc', 'window=40', 'window=40,0,linear', 'window=40,0.5', 'window=40,0,sigmoid', 'window=40,400,cubic', 'window=1,2,linear,4',
        'window=1,2&window=3,4', 'viewport=0,10', 'viewport=10', 'viewport=10,10,1,2', 'viewport=10,10,0,0,0,5', 'viewport=a,b',
        'viewport=10,10,1300,0,10,10', 'viewport=10,10,0,0,-1,10', 'quality=0', 'quality=101', 'quality=high', 'quality=50.5',
        'annotation=everything', 'iccprofile=cmyk',
      ];
      for (const query of queries) {
        const response = await rendered(io, `?${query}`);
        assert.equal(response.status, 400, `${query}: ${response.status} ${response.body}`);
      }
      assert.equal((await get('/dicomweb/studies/1.2.x/rendered')).status, 400);
    });

    it('honours quality for JPEG, and accepts annotation and charset without burning in text', async () => {
      const low = await rendered(photo, '?quality=5');
      const high = await rendered(photo, '?quality=95');
      assert.ok(low.body.length < high.body.length / 2, `quality 5 (${low.body.length} bytes) is much smaller than 95 (${high.body.length})`);
      const annotated = await renderedPng(io, '?annotation=patient,technique&charset=UTF-8');
      assert.deepEqual(annotated.data, (await renderedPng(io)).data);
    });

    it('is 404 for what is not stored, and for another tenant', async () => {
      const known = uidsOfFile(io);
      assert.equal((await get(`${instanceUrl({ ...known, instance: '1.2.3.4' })}/rendered`)).status, 404);
      assert.equal((await get(`/dicomweb/studies/1.2.3.4/rendered`)).status, 404);
      assert.equal((await get(`${instanceUrl(known)}/rendered`, undefined, otherToken)).status, 404);
      assert.equal((await get(`${instanceUrl(known)}/thumbnail`, undefined, otherToken)).status, 404);
      assert.equal((await get(`/dicomweb/studies/${known.study}/rendered`, undefined, otherToken)).status, 404);
      assert.equal((await app.request.get(`${instanceUrl(known)}/rendered`)).status, 401);
    });
  });

  describe('rendered study and series', () => {
    it('is multipart/related with one rendered image per instance, in instance order', async () => {
      const series = uidsOfFile(ct[0]!);
      const response = await get(`/dicomweb/studies/${series.study}/series/${series.series}/rendered`, 'image/png');
      assert.equal(response.status, 200);
      assert.match(response.get('content-type')!, /^multipart\/related; type="image\/png"; boundary=/);
      const parts = multipartParts(response.body, response.get('content-type')!);
      assert.equal(parts.length, ct.length);
      for (const [i, part] of parts.entries()) {
        assert.equal(part.headers['content-type'], 'image/png');
        assert.ok(part.headers['content-location']!.endsWith(`${instanceUrl(uidsOfFile(ct[i]!))}/rendered`), part.headers['content-location']);
        const png = await decoded(part.body);
        assert.deepEqual([png.width, png.height], [256, 256]);
      }
      assert.deepEqual((await decoded(parts[3]!.body)).data, (await renderedPng(ct[3]!)).data);

      const study = await get(`/dicomweb/studies/${uidsOfFile(io).study}/rendered?viewport=130,100`);
      const studyParts = multipartParts(study.body, study.get('content-type')!);
      assert.equal(studyParts.length, 4);
      for (const part of studyParts) {
        assert.equal(part.headers['content-type'], 'image/jpeg');
        const jpeg = await sharp(part.body).metadata();
        assert.deepEqual([jpeg.width, jpeg.height], [130, 100]);
      }
    });
  });

  describe('thumbnails (PS3.18 10.4.1.1.4)', () => {
    it('fit in 128 x 128 keeping the aspect ratio, never enlarged; a viewport sets the size', async () => {
      const bitewing = await get(`${instanceUrl(uidsOfFile(io))}/thumbnail`);
      assert.equal(bitewing.status, 200);
      assert.equal(bitewing.get('content-type'), 'image/jpeg');
      assert.deepEqual([(await sharp(bitewing.body).metadata()).width, (await sharp(bitewing.body).metadata()).height], [128, 98]);
      const small = await decoded((await get(`${instanceUrl(uidsOfFile('MR_small.dcm'))}/thumbnail`, 'image/png')).body);
      assert.deepEqual([small.width, small.height], [64, 64]);
      const sized = await decoded((await get(`${instanceUrl(uidsOfFile(io))}/thumbnail?viewport=260,260`, 'image/png')).body);
      assert.deepEqual([sized.width, sized.height], [260, 200]);
      assert.equal((await get(`${instanceUrl(uidsOfFile(io))}/thumbnail`, 'image/gif')).status, 406);
    });

    it('of a series or study is its middle image; of a multi-frame instance its middle frame; of frames the first listed', async () => {
      const thumbnail = async (url: string) => {
        const response = await get(url, 'image/png');
        assert.equal(response.status, 200, url);
        return decoded(response.body);
      };
      const middleSlice = await thumbnail(`${instanceUrl(uidsOfFile(ct[7]!))}/thumbnail`);
      const series = uidsOfFile(ct[0]!);
      assert.deepEqual((await thumbnail(`/dicomweb/studies/${series.study}/series/${series.series}/thumbnail`)).data, middleSlice.data);
      assert.deepEqual((await thumbnail(`/dicomweb/studies/${series.study}/thumbnail`)).data, middleSlice.data);

      const multiframe = instanceUrl(uidsOfFile(SYNTHETIC_MULTIFRAME));
      const eighth = await thumbnail(`${multiframe}/frames/8/thumbnail`);
      assert.deepEqual((await thumbnail(`${multiframe}/thumbnail`)).data, eighth.data);
      assert.deepEqual([eighth.width, eighth.height], [128, 128]);
    });
  });

  describe('WADO-URI (PS3.18 9)', () => {
    it('renders image/jpeg by default and image/png when asked, with rows, columns, window, frame, region and quality', async () => {
      const jpeg = await get(wadoUri(uidsOfFile(io)));
      assert.equal(jpeg.status, 200);
      assert.equal(jpeg.get('content-type'), 'image/jpeg');
      assert.deepEqual([(await sharp(jpeg.body).metadata()).width, (await sharp(jpeg.body).metadata()).height], [1300, 1000]);

      const png = await get(wadoUri(uidsOfFile(ct[3]!), '&contentType=image/png&windowCenter=40&windowWidth=400'));
      assert.equal(png.get('content-type'), 'image/png');
      assert.deepEqual((await decoded(png.body)).data, (await renderedPng(ct[3]!, '?window=40,400')).data);

      const scaled = await decoded((await get(wadoUri(uidsOfFile(io), '&contentType=image/png&rows=100'))).body);
      assert.deepEqual([scaled.width, scaled.height], [130, 100]);
      const boxed = await decoded((await get(wadoUri(uidsOfFile(io), '&contentType=image/png&rows=500&columns=260'))).body);
      assert.deepEqual([boxed.width, boxed.height], [260, 200]);

      const frame = await get(wadoUri(uidsOfFile(SYNTHETIC_MULTIFRAME), '&contentType=image/png&frameNumber=5'));
      const renderedFrame = await get(`${instanceUrl(uidsOfFile(SYNTHETIC_MULTIFRAME))}/frames/5/rendered`, 'image/png');
      assert.deepEqual((await decoded(frame.body)).data, (await decoded(renderedFrame.body)).data);

      const region = await decoded((await get(wadoUri(uidsOfFile('MR_small.dcm'), '&contentType=image/png&region=0.25,0.5,0.75,1'))).body);
      const whole = await renderedPng('MR_small.dcm');
      assert.deepEqual([region.width, region.height], [32, 32]);
      assert.equal(region.data[0], whole.data[32 * 64 + 16]);

      const low = await get(wadoUri(uidsOfFile(photo), '&imageQuality=5'));
      const high = await get(wadoUri(uidsOfFile(photo), '&imageQuality=95'));
      assert.ok(low.body.length < high.body.length / 2);
    });

    it('returns application/dicom in Explicit VR Little Endian unless another transferSyntax is asked, and the stored file for "*"', async () => {
      for (const name of [io, 'SC_rgb_jpeg_dcmtk.dcm', 'test-SR.dcm', 'image_dfl.dcm']) {
        const known = uidsOfFile(name);
        const stored = fs.readFileSync(file(name));
        const asStored = await get(wadoUri(known, '&contentType=application/dicom&transferSyntax=*'));
        assert.equal(asStored.status, 200, name);
        assert.equal(asStored.get('content-type'), 'application/dicom');
        assert.equal(asStored.get('content-length'), String(stored.length));
        assert.ok(asStored.body.equals(stored), `${name} is byte identical`);

        // PS3.18 9.4.2.4: without transferSyntax, the default of DICOM web services.
        const byDefault = await get(wadoUri(known, '&contentType=application/dicom'));
        assert.equal(byDefault.status, 200, name);
        const [original, served] = [await parseInstanceBuffer(stored), await parseInstanceBuffer(byDefault.body)];
        assert.equal(served.encoding.transferSyntaxUID, EXPLICIT_LE, name);
        assert.equal(served.attributes.SOPInstanceUID, original.attributes.SOPInstanceUID);
        if (original.encoding.transferSyntaxUID === EXPLICIT_LE) assert.ok(byDefault.body.equals(stored), `${name} is stored so: byte identical`);
        if (original.pixelData) {
          const { Rows, Columns } = original.attributes;
          const [samples, bitsAllocated] = ['00280002', '00280100'].map((tag) => Number(original.dicomJson[tag]!.Value![0]));
          assert.equal(served.pixelData!.frames![0]!.ranges[0]!.length, (Rows! * Columns! * samples! * bitsAllocated!) / 8, `${name}: a native frame`);
        }
      }
      const jpeg = uidsOfFile('SC_rgb_jpeg_dcmtk.dcm');
      const asked = await get(wadoUri(jpeg, '&contentType=application/dicom&transferSyntax=1.2.840.10008.1.2.4.50'));
      assert.ok(asked.body.equals(fs.readFileSync(file('SC_rgb_jpeg_dcmtk.dcm'))), 'asked in the stored syntax: as stored');
      const lossy = await get(wadoUri(uidsOfFile('MR_small.dcm'), '&contentType=application/dicom&transferSyntax=1.2.840.10008.1.2.4.50'));
      assert.equal(lossy.status, 406, 'a lossy syntax is never produced');
      assert.equal((await get(wadoUri(jpeg, '&contentType=application/dicom&transferSyntax=JPEG'))).status, 400);
    });

    it('is 400 for a missing or wrong requestType, missing or invalid UIDs, and malformed or misplaced parameters', async () => {
      const known = uidsOfFile(io);
      const bad = [
        `/dicomweb/wado?studyUID=${known.study}&seriesUID=${known.series}&objectUID=${known.instance}`,
        `/dicomweb/wado?requestType=WADO-RS&studyUID=${known.study}&seriesUID=${known.series}&objectUID=${known.instance}`,
        `/dicomweb/wado?requestType=WADO&studyUID=${known.study}&seriesUID=${known.series}`,
        `/dicomweb/wado?requestType=WADO&studyUID=${known.study}&objectUID=${known.instance}`,
        `/dicomweb/wado?requestType=WADO&studyUID=${known.study}&seriesUID=${known.series}&objectUID=1.02.3`,
        wadoUri(known, '&windowCenter=40'),
        wadoUri(known, '&windowCenter=40&windowWidth=0'),
        wadoUri(known, '&windowCenter=x&windowWidth=400'),
        wadoUri(known, '&imageQuality=0'),
        wadoUri(known, '&rows=0'),
        wadoUri(known, '&columns=ten'),
        wadoUri(known, '&frameNumber=0'),
        wadoUri(known, '&region=0.5,0.5,0.2,0.9'),
        wadoUri(known, '&region=0,0,1.5,1'),
        wadoUri(known, '&annotation=everything'),
        wadoUri(known, '&transferSyntax=1.2.840.10008.1.2.1'),
        wadoUri(known, '&presentationUID=1.2.3'),
        wadoUri(known, '&contentType=application/dicom&rows=100'),
        wadoUri(known, '&contentType=application/dicom&anonymize=yes'),
      ];
      for (const url of bad) {
        const response = await get(url);
        assert.equal(response.status, 400, `${url}: ${response.status} ${response.body}`);
      }
    });

    it('is 406 for content types it does not serve and for an object that is not an image, 404 for what is not stored or another tenant\'s', async () => {
      assert.equal((await get(wadoUri(uidsOfFile(io), '&contentType=image/gif'))).status, 406);
      assert.equal((await get(wadoUri(uidsOfFile('test-SR.dcm')))).status, 406);
      assert.equal((await get(wadoUri(uidsOfFile(SYNTHETIC_MULTIFRAME), '&frameNumber=17'))).status, 404);
      assert.equal((await get(wadoUri({ ...uidsOfFile(io), instance: '1.2.3' }))).status, 404);
      assert.equal((await get(wadoUri(uidsOfFile(io)), undefined, otherToken)).status, 404);
      assert.equal((await get(wadoUri(uidsOfFile(io), '&contentType=application/dicom'), undefined, otherToken)).status, 404);
      assert.equal((await app.request.get(wadoUri(uidsOfFile(io)))).status, 401);
    });
  });

  describe('with dicomweb-client against a listening server', () => {
    let server: ListeningApp;
    let serverToken: string;
    before(async () => {
      server = await startListeningApp();
      const { tenantId, token } = await listeningTenantWithToken(server, READ);
      serverToken = token;
      await storeFiles(server.services, tenantId, [io, SYNTHETIC_MULTIFRAME]);
    });
    after(() => server.close());

    it('retrieves a rendered instance, rendered frames and a thumbnail that decode to the right size', async () => {
      const client = await dicomwebClient(server.baseUrl, serverToken);
      // The client answers every retrieval with the list of its body parts.
      const sizeOf = async (parts: unknown) => {
        assert.ok(Array.isArray(parts) && parts.length === 1, 'one image');
        const metadata = await sharp(Buffer.from(parts[0] as ArrayBuffer)).metadata();
        return [metadata.format, metadata.width, metadata.height];
      };
      const bitewing = uidsOfFile(io);
      const options = { studyInstanceUID: bitewing.study, seriesInstanceUID: bitewing.series, sopInstanceUID: bitewing.instance };
      assert.deepEqual(await sizeOf(await client.retrieveInstanceRendered({ ...options, mediaTypes: [{ mediaType: 'image/png' }], queryParams: { viewport: '650,650' } })),
        ['png', 650, 500]);
      assert.deepEqual(await sizeOf(await client.retrieveInstanceRendered({ ...options, mediaTypes: [{ mediaType: 'image/jpeg' }] })), ['jpeg', 1300, 1000]);
      assert.deepEqual(await sizeOf(await client.retrieveInstanceThumbnail({ ...options, mediaTypes: [{ mediaType: 'image/jpeg' }] })), ['jpeg', 128, 98]);

      const multiframe = uidsOfFile(SYNTHETIC_MULTIFRAME);
      const frames = await client.retrieveInstanceFramesRendered({
        studyInstanceUID: multiframe.study, seriesInstanceUID: multiframe.series, sopInstanceUID: multiframe.instance,
        frameNumbers: '3', mediaTypes: [{ mediaType: 'image/png' }],
      });
      assert.deepEqual(await sizeOf(frames), ['png', 256, 256]);
    });
  });
});
