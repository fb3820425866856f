// WADO-RS (PS3.18 10.4) over real stored instances: retrieve of studies, series and instances
// (byte for byte as stored, or transcoded as the Accept header asks, checked with DCMTK), metadata
// (against dcm2json), frames and bulk data (against the pixel data DCMTK decodes), the status codes
// of bad requests, tenant isolation, and the dicomweb-client package against a listening server.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Response } from 'supertest';
import { parseInstanceFile, type DicomJsonAttribute, type DicomJsonDataSet, type ParsedInstance } from '../src/dicom/index.ts';
import { decodeFrame, type PixelDescription } from '../src/dicom/transcode-codecs.ts';
import { startTestApp, tenantWithToken, PUBLIC_BASE_URL, type TestApp } from './support/app.ts';
import { ownerQuery } from './support/database.ts';
import {
  binaryBody, dicomFilesIn, dicomwebClient, modifiedCopy, multipartParts as sharedMultipartParts, pydicomFile, storeFiles, syntheticStudy, PYDICOM, SYNTHETIC_MULTIFRAME,
  type BodyPartRead,
} from './support/dicomweb.ts';
import { listeningTenantWithToken, startListeningApp, type ListeningApp } from './support/listening.ts';

const run = promisify(execFile);
const DCMTK = { maxBuffer: 256 * 1024 * 1024 };
const EXPLICIT_LE = '1.2.840.10008.1.2.1';
const IMPLICIT_LE = '1.2.840.10008.1.2';
const EXPLICIT_BE = '1.2.840.10008.1.2.2';
const DEFLATED = '1.2.840.10008.1.2.1.99';
const RLE = '1.2.840.10008.1.2.5';
const JPEG_BASELINE = '1.2.840.10008.1.2.4.50';
const JPEG_LOSSLESS = '1.2.840.10008.1.2.4.70';
const JPEG_LS = '1.2.840.10008.1.2.4.80';
const JPEG_2000 = '1.2.840.10008.1.2.4.90';
const HTJ2K = '1.2.840.10008.1.2.4.201';
const dicomAccept = (transferSyntax?: string) => `multipart/related; type="application/dicom"${transferSyntax ? `; transfer-syntax=${transferSyntax}` : ''}`;

let scratch: string;
before(() => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'cusp-wado-'));
});
after(() => fs.rmSync(scratch, { recursive: true, force: true }));
let scratchCount = 0;
const scratchFile = (name: string) => path.join(scratch, `${++scratchCount}-${name}`);

// ---- reading responses ----------------------------------------------------------------------------

const multipartParts = (response: Response): BodyPartRead[] => sharedMultipartParts(response.body as Buffer, String(response.headers['content-type']));

const transferSyntaxOf = (contentType: string | undefined) => /transfer-syntax=([^;\s]+)/.exec(contentType ?? '')?.[1];

// ---- DCMTK as the reference -----------------------------------------------------------------------

const DCMTK_DECODER: Record<string, string> = {
  [RLE]: 'dcmdrle', [JPEG_BASELINE]: 'dcmdjpeg', '1.2.840.10008.1.2.4.51': 'dcmdjpeg', [JPEG_LOSSLESS]: 'dcmdjpeg',
  [JPEG_LS]: 'dcmdjpls', '1.2.840.10008.1.2.4.81': 'dcmdjpls',
};
const DCMTK_NATIVE = new Set([EXPLICIT_LE, IMPLICIT_LE, EXPLICIT_BE, DEFLATED]);
/**
 * What the codecs encode: 8 or 16-bit samples, and no 16-bit colour in JPEG 2000 (the OpenJPEG and
 * OpenJPH builds of dcmjs-codecs do not round-trip it); everything else gets 406.
 */
const compressible = (description: PixelDescription, target: string) =>
  [8, 16].includes(description.bitsAllocated) && !([JPEG_2000, HTJ2K].includes(target) && description.bitsAllocated === 16 && description.samplesPerPixel > 1);
/** DCMTK 3.6.7 has no JPEG 2000 or HTJ2K decoder: those are checked against the OpenJPEG/OpenJPH decoders instead. */
const dcmtkDecodes = (transferSyntax: string) => DCMTK_NATIVE.has(transferSyntax) || transferSyntax in DCMTK_DECODER;

/** The file as DCMTK writes it in Explicit VR Little Endian: decompressed (dcmdjpeg, dcmdrle, dcmdjpls) or converted (dcmconv). */
async function dcmtkExplicitLittleEndian(file: string): Promise<string> {
  const transferSyntax = (await parseInstanceFile(file)).encoding.transferSyntaxUID;
  const output = scratchFile('dcmtk.dcm');
  const decoder = DCMTK_DECODER[transferSyntax];
  if (decoder) await run(decoder, ['-q', file, output], DCMTK);
  else await run('dcmconv', ['-q', '+te', file, output], DCMTK);
  return output;
}

/** dcmdump finds nothing wrong with the file, and it says it is in `transferSyntax`. */
async function expectValidPart10(file: string, transferSyntax: string): Promise<void> {
  const { stdout, stderr } = await run('dcmdump', ['-Un', '+P', '0002,0010', file], DCMTK);
  const problems = stderr.split('\n').filter((line) => line.trim() && !/not a multiple of 2/.test(line));
  assert.deepEqual(problems, [], `dcmdump reports no problem with ${path.basename(file)}`);
  assert.match(stdout, new RegExp(`\\[${transferSyntax.replace(/\./g, '\\.')}\\]`), `${path.basename(file)} says it is in ${transferSyntax}`);
}

interface NativePixels {
  bytes: Buffer;
  description: PixelDescription;
}

/** The native Pixel Data of an Explicit VR Little Endian file, colour-by-pixel (planar data is interleaved). */
async function nativePixels(file: string): Promise<NativePixels> {
  const parsed = await parseInstanceFile(file);
  assert.equal(parsed.encoding.transferSyntaxUID, EXPLICIT_LE);
  const { offset, length } = parsed.pixelData!.value;
  const bytes = fs.readFileSync(file).subarray(offset, offset + length);
  const description = descriptionOf(parsed.dicomJson);
  return { bytes: description.planarConfiguration === 1 ? interleaved(bytes, description) : bytes, description: { ...description, planarConfiguration: 0 } };
}

function descriptionOf(json: DicomJsonDataSet): PixelDescription {
  const value = (tag: string) => json[tag]?.Value?.[0] as number | string | undefined;
  return {
    rows: Number(value('00280010')), columns: Number(value('00280011')), samplesPerPixel: Number(value('00280002') ?? 1),
    bitsAllocated: Number(value('00280100')), bitsStored: Number(value('00280101')), highBit: Number(value('00280102')),
    pixelRepresentation: Number(value('00280103') ?? 0), photometricInterpretation: String(value('00280004')),
    planarConfiguration: value('00280006') === undefined ? undefined : Number(value('00280006')), numberOfFrames: Number(value('00280008') ?? 1),
  };
}

/** Colour-by-plane frames (Planar Configuration 1) rearranged colour-by-pixel. */
function interleaved(bytes: Buffer, description: PixelDescription): Buffer {
  const bytesPerSample = description.bitsAllocated / 8;
  const pixels = description.rows * description.columns;
  const frameLength = pixels * description.samplesPerPixel * bytesPerSample;
  const out = Buffer.alloc(bytes.length);
  for (let frame = 0; frame * frameLength < bytes.length; frame++) {
    for (let pixel = 0; pixel < pixels; pixel++) {
      for (let sample = 0; sample < description.samplesPerPixel; sample++) {
        const from = frame * frameLength + (sample * pixels + pixel) * bytesPerSample;
        const to = frame * frameLength + (pixel * description.samplesPerPixel + sample) * bytesPerSample;
        bytes.copy(out, to, from, from + bytesPerSample);
      }
    }
  }
  return out;
}

/** The attributes dcm2json sees, bulk values, Group Lengths and (by default) the Pixel Module values a (de)compression changes aside. */
async function dcm2jsonAttributes(file: string, ignore?: Set<string>): Promise<DicomJsonDataSet> {
  const copy = scratchFile('without-pixel-data.dcm');
  await fsp.copyFile(file, copy);
  // dcm2json cannot write encapsulated pixel data: it goes first (it is compared apart).
  if ((await parseInstanceFile(file)).pixelData) await run('dcmodify', ['-q', '-nb', '-ie', '-ea', '(7fe0,0010)', copy], DCMTK);
  return comparable(JSON.parse((await run('dcm2json', ['-q', copy], DCMTK)).stdout), ignore);
}

/** Data Set Trailing Padding is left out by dcmodify's rewrite; the Pixel Module values a (de)compression changes. */
const CHANGED_BY_TRANSCODING = new Set(['00080005', '00280004', '00280006', '7FE00010', 'FFFCFFFC']);

function comparable(dataSet: DicomJsonDataSet, ignore: Set<string> = CHANGED_BY_TRANSCODING): DicomJsonDataSet {
  const result: DicomJsonDataSet = {};
  for (const [tag, attribute] of Object.entries(dataSet)) {
    if (ignore.has(tag) || tag.endsWith('0000')) continue;
    result[tag] = comparableAttribute(attribute);
  }
  return result;
}

function comparableAttribute(attribute: DicomJsonAttribute): DicomJsonAttribute {
  if (attribute.InlineBinary !== undefined || attribute.BulkDataURI !== undefined) return { vr: attribute.vr, Value: ['<binary>'] };
  if (attribute.vr === 'SQ' && attribute.Value) return { vr: 'SQ', Value: attribute.Value.map((item) => comparable(item as DicomJsonDataSet, new Set(['00080005']))) };
  if ((attribute.vr === 'FL' || attribute.vr === 'OF') && attribute.Value) {
    return { vr: attribute.vr, Value: attribute.Value.map((value) => (typeof value === 'number' ? Math.fround(value) : value)) };
  }
  return attribute;
}

// ---- the stored corpus --------------------------------------------------------------------------

interface Sample {
  name: string;
  tenantId: string;
  file: string;
  parsed: ParsedInstance;
  token: string;
  url: string;
}

const instanceUrl = (parsed: ParsedInstance) =>
  `/dicomweb/studies/${parsed.attributes.StudyInstanceUID}/series/${parsed.attributes.SeriesInstanceUID}/instances/${parsed.attributes.SOPInstanceUID}`;

describe('WADO-RS', function () {
  this.timeout(300_000);
  let app: TestApp;
  /** Every pydicom file, each in a tenant of its own: several share a SOP Instance UID. */
  const samples = new Map<string, Sample>();
  let mainToken: string;
  let otherTenantToken: string;
  const syntheticFiles = [...(['01-io', '02-px', '03-ct', '04-xc'] as const).flatMap(syntheticStudy), SYNTHETIC_MULTIFRAME];
  const synthetic = new Map<string, ParsedInstance>();
  const sample = (name: string) => samples.get(name)!;

  const get = (url: string, token: string, accept?: string) => {
    const request = app.request.get(url).set('Authorization', `Bearer ${token}`).buffer(true).parse(binaryBody);
    return accept === undefined ? request : request.set('Accept', accept);
  };

  before(async () => {
    app = await startTestApp();
    for (const file of dicomFilesIn(PYDICOM)) {
      const { tenantId, token } = await tenantWithToken(app, ['system/ImagingStudy.read']);
      const [result] = await storeFiles(app.services, tenantId, [file]);
      assert.ok(result?.stored, `${file} is stored`);
      const parsed = await parseInstanceFile(file);
      samples.set(path.basename(file), { name: path.basename(file), tenantId, file, parsed, token, url: instanceUrl(parsed) });
    }
    const main = await tenantWithToken(app, ['system/ImagingStudy.read']);
    mainToken = main.token;
    for (const result of await storeFiles(app.services, main.tenantId, syntheticFiles)) assert.ok(result.stored, 'the synthetic studies are stored');
    for (const file of syntheticFiles) synthetic.set(file, await parseInstanceFile(file));
    ({ token: otherTenantToken } = await tenantWithToken(app, ['system/ImagingStudy.read']));
  });
  after(() => app.close());

  describe('retrieve instances', () => {
    it('with transfer-syntax=* returns every stored file byte for byte, its Transfer Syntax on the part', async () => {
      for (const { name, file, parsed, url, token } of samples.values()) {
        const response = await get(url, token, dicomAccept('*'));
        assert.equal(response.status, 200, name);
        assert.match(String(response.headers['content-type']), /^multipart\/related; type="application\/dicom"; boundary=/);
        const parts = multipartParts(response);
        assert.equal(parts.length, 1, name);
        assert.ok(parts[0]!.body.equals(fs.readFileSync(file)), `${name} comes back byte for byte`);
        assert.equal(parts[0]!.headers['content-type'], `application/dicom; transfer-syntax=${parsed.encoding.transferSyntaxUID}`);
      }
    });

    it('by default (Explicit VR Little Endian) returns Explicit VR Little Endian files as stored', async () => {
      const explicit = [...samples.values()].filter(({ parsed }) => parsed.encoding.transferSyntaxUID === EXPLICIT_LE);
      assert.ok(explicit.length >= 4, 'the corpus has Explicit VR Little Endian files');
      for (const accept of [dicomAccept(), 'multipart/related; type=application/dicom', '*/*', undefined]) {
        for (const { name, file, url, token } of explicit) {
          const response = await get(url, token, accept);
          assert.equal(response.status, 200, `${name} with Accept ${accept}`);
          const [part] = multipartParts(response);
          assert.ok(part!.body.equals(fs.readFileSync(file)), `${name} with Accept ${accept}`);
          assert.equal(transferSyntaxOf(part!.headers['content-type']), EXPLICIT_LE);
        }
      }
    });

    it('by default transcodes every other file to valid Explicit VR Little Endian with the pixels DCMTK decodes', async () => {
      const others = [...samples.values()].filter(({ parsed }) => parsed.encoding.transferSyntaxUID !== EXPLICIT_LE);
      assert.ok(others.length >= 10, 'the corpus has files in other syntaxes');
      for (const { name, file, parsed, url, token } of others) {
        const response = await get(url, token, dicomAccept());
        assert.equal(response.status, 200, name);
        const [part] = multipartParts(response);
        assert.equal(transferSyntaxOf(part!.headers['content-type']), EXPLICIT_LE, name);
        const received = scratchFile(name);
        await fsp.writeFile(received, part!.body);
        await expectValidPart10(received, EXPLICIT_LE);
        assert.deepEqual(await dcm2jsonAttributes(received), await dcm2jsonAttributes(file), `${name}: the attributes are those of the file`);
        if (!parsed.pixelData) continue;
        const ours = await nativePixels(received);
        if (dcmtkDecodes(parsed.encoding.transferSyntaxUID)) {
          const reference = await nativePixels(await dcmtkExplicitLittleEndian(file));
          assert.ok(ours.bytes.equals(reference.bytes), `${name}: the pixels are those DCMTK decodes`);
          assert.equal(ours.description.photometricInterpretation, reference.description.photometricInterpretation, name);
        } else {
          assert.equal(ours.bytes.length, parsed.pixelData.numberOfFrames * ours.description.rows * ours.description.columns
            * ours.description.samplesPerPixel * ours.description.bitsAllocated / 8, `${name}: every pixel is there`);
        }
      }
    });

    it('transcodes to the uncompressed and lossless compressed syntaxes asked for, with the same pixels', async () => {
      const subjects = ['MR_small.dcm', 'SC_rgb_rle_2frame.dcm', 'SC_rgb_rle_16bit_2frame.dcm', 'ExplVR_BigEnd.dcm', 'rtdose.dcm', 'image_dfl.dcm', 'MR_small_jpeg_ls_lossless.dcm'];
      const targets = [IMPLICIT_LE, EXPLICIT_BE, DEFLATED, RLE, JPEG_LOSSLESS, JPEG_LS, JPEG_2000, HTJ2K];
      let checked = 0;
      for (const name of subjects) {
        const { file, url, token, parsed } = sample(name);
        const reference = await nativePixels(await dcmtkExplicitLittleEndian(file));
        const attributes = await dcm2jsonAttributes(file);
        for (const target of targets) {
          if (target === parsed.encoding.transferSyntaxUID) continue;
          const response = await get(url, token, dicomAccept(target));
          if (parsed.pixelData && !DCMTK_NATIVE.has(target) && !compressible(reference.description, target)) {
            assert.equal(response.status, 406, `${name} cannot be compressed to ${target}`);
            continue;
          }
          assert.equal(response.status, 200, `${name} to ${target}: ${response.body}`);
          const [part] = multipartParts(response);
          assert.equal(transferSyntaxOf(part!.headers['content-type']), target);
          const received = scratchFile(`${name}-${target}.dcm`);
          await fsp.writeFile(received, part!.body);
          await expectValidPart10(received, target);
          assert.deepEqual(await dcm2jsonAttributes(received), attributes, `${name} in ${target}: same attributes`);
          const pixels = dcmtkDecodes(target)
            ? await nativePixels(await dcmtkExplicitLittleEndian(received))
            : await decodedWithOurCodecs(received);
          assert.ok(pixels.bytes.equals(reference.bytes), `${name} in ${target}: the same pixels`);
          checked++;
        }
      }
      assert.ok(checked >= 40, `${checked} transcodings checked`);
    });

    it('answers 406 when no accepted Transfer Syntax can be produced, and honours q-values and several media ranges', async () => {
      const mr = sample('MR_small.dcm');
      // Lossy compression is never produced: the pixels would no longer be those stored.
      assert.equal((await get(mr.url, mr.token, dicomAccept(JPEG_BASELINE))).status, 406);
      assert.equal((await get(mr.url, mr.token, 'application/pdf')).status, 406);
      assert.equal((await get(mr.url, mr.token, 'multipart/related; type="image/jpeg"')).status, 406);

      const preferred = await get(mr.url, mr.token,
        `${dicomAccept(JPEG_BASELINE)}; q=1, ${dicomAccept(RLE)}; q=0.5, ${dicomAccept('*')}; q=0.9`);
      assert.equal(preferred.status, 200);
      assert.equal(transferSyntaxOf(multipartParts(preferred)[0]!.headers['content-type']), EXPLICIT_LE, 'transfer-syntax=* (q=0.9) wins over RLE (q=0.5)');

      const jpeg = sample('SC_rgb_jpeg_dcmtk.dcm');
      const asStored = await get(jpeg.url, jpeg.token, `${dicomAccept(JPEG_BASELINE)}, ${dicomAccept()}`);
      assert.ok(multipartParts(asStored)[0]!.body.equals(fs.readFileSync(jpeg.file)), 'the JPEG file is served as it is stored');

      const viaQuery = await app.request.get(`${mr.url}?accept=${encodeURIComponent(dicomAccept(RLE))}`).set('Authorization', `Bearer ${mr.token}`)
        .buffer(true).parse(binaryBody);
      assert.equal(transferSyntaxOf(multipartParts(viaQuery)[0]!.headers['content-type']), RLE, 'the accept query parameter (PS3.18 8.3.3.1) is honoured');

      const single = await get(mr.url, mr.token, 'application/dicom');
      assert.equal(single.status, 200);
      assert.equal(single.headers['content-type'], `application/dicom; transfer-syntax=${EXPLICIT_LE}`);
      assert.ok((single.body as Buffer).equals(fs.readFileSync(mr.file)), 'one instance may be a single part');
    });

    it('returns every instance of a series and of a study', async () => {
      const ct = syntheticStudy('03-ct').map((file) => synthetic.get(file)!);
      const { StudyInstanceUID, SeriesInstanceUID } = ct[0]!.attributes;
      for (const url of [`/dicomweb/studies/${StudyInstanceUID}/series/${SeriesInstanceUID}`, `/dicomweb/studies/${StudyInstanceUID}`]) {
        const response = await get(url, mainToken, dicomAccept());
        assert.equal(response.status, 200);
        const parts = multipartParts(response);
        assert.equal(parts.length, ct.length, url);
        const received = await Promise.all(parts.map(async (part) => {
          const file = scratchFile('ct.dcm');
          await fsp.writeFile(file, part.body);
          return (await parseInstanceFile(file)).attributes.SOPInstanceUID;
        }));
        assert.deepEqual([...received].sort(), ct.map((parsed) => parsed.attributes.SOPInstanceUID).sort());
        const bySop = new Map(syntheticStudy('03-ct').map((file) => [synthetic.get(file)!.attributes.SOPInstanceUID, fs.readFileSync(file)]));
        parts.forEach((part, index) => assert.ok(part.body.equals(bySop.get(received[index]!)!), 'each as stored'));
      }
    });

    it('answers 404 for unknown UIDs and another tenant\'s instances, 400 for malformed UIDs', async () => {
      const mr = sample('MR_small.dcm');
      const { StudyInstanceUID: study, SeriesInstanceUID: series } = mr.parsed.attributes;
      assert.equal((await get(`/dicomweb/studies/1.2.3.999`, mr.token)).status, 404);
      assert.equal((await get(`/dicomweb/studies/${study}/series/1.2.3.999`, mr.token)).status, 404);
      assert.equal((await get(`/dicomweb/studies/${study}/series/${series}/instances/1.2.3.999`, mr.token)).status, 404);
      assert.equal((await get(`/dicomweb/studies/1.2.abc`, mr.token)).status, 400);
      assert.equal((await get(`/dicomweb/studies/${study}/series/01.2`, mr.token)).status, 400);
      for (const suffix of ['', '/metadata', '/frames/1', '/bulkdata/7FE00010']) {
        const response = await get(`${mr.url}${suffix}`, otherTenantToken);
        assert.equal(response.status, 404, `another tenant's ${suffix || 'instance'}`);
      }
      assert.equal((await app.request.get(mr.url)).status, 401);
    });

    it('records each retrieval in the audit trail', async () => {
      const mr = sample('MR_small.dcm');
      await get(mr.url, mr.token, dicomAccept());
      const rows = await ownerQuery(
        `select resource_type, resource_id, metadata from audit_events where event_type = 'DICOM_RETRIEVE' and metadata->>'path' = $1`, [mr.url]);
      assert.ok(rows.length > 0, 'the retrieval is audited');
      const [study] = await ownerQuery('select id from imaging_studies where tenant_id = $1 and study_uid = $2', [mr.tenantId, mr.parsed.attributes.StudyInstanceUID]);
      assert.ok(rows.some((row) => row.resource_type === 'ImagingStudy' && row.resource_id === study!.id), 'as a read of the ImagingStudy');
    });
  });

  describe('retrieve metadata', () => {
    it('returns every attribute of every file, as dcm2json reads it, at instance, series and study level', async () => {
      for (const { name, file, parsed, url, token } of samples.values()) {
        const ignoreNothing = new Set(['00080005', '7FE00010', 'FFFCFFFC']);
        const reference = await dcm2jsonAttributes(file, ignoreNothing);
        for (const level of [url, url.slice(0, url.indexOf('/instances/')), url.slice(0, url.indexOf('/series/'))]) {
          const response = await app.request.get(`${level}/metadata`).set('Authorization', `Bearer ${token}`);
          assert.equal(response.status, 200, name);
          assert.match(String(response.headers['content-type']), /^application\/dicom\+json/);
          assert.equal(response.body.length, 1, `${name}: one instance at ${level}`);
          const [dataSet] = response.body as DicomJsonDataSet[];
          assert.deepEqual(comparable(dataSet!, ignoreNothing), comparable(reference, ignoreNothing), `${name} at ${level}`);
          if (parsed.pixelData) assert.equal(dataSet!['7FE00010']?.BulkDataURI, `${PUBLIC_BASE_URL}${url}/bulkdata/7FE00010`, name);
        }
      }
    });

    it('returns a series\' instances in instance order, in DICOM JSON and in the XML form', async () => {
      const ct = syntheticStudy('03-ct').map((file) => synthetic.get(file)!);
      const { StudyInstanceUID, SeriesInstanceUID } = ct[0]!.attributes;
      const url = `/dicomweb/studies/${StudyInstanceUID}/series/${SeriesInstanceUID}/metadata`;
      const response = await app.request.get(url).set('Authorization', `Bearer ${mainToken}`).set('Accept', 'application/dicom+json');
      assert.equal(response.status, 200);
      const numbers = (response.body as DicomJsonDataSet[]).map((dataSet) => dataSet['00200013']!.Value![0]);
      assert.deepEqual(numbers, [...numbers].sort((a, b) => Number(a) - Number(b)));
      assert.equal(numbers.length, ct.length);
      const xml = await app.request.get(url).set('Authorization', `Bearer ${mainToken}`).set('Accept', 'multipart/related; type="application/dicom+xml"')
        .buffer(true).parse(binaryBody);
      assert.equal(xml.status, 200);
      const parts = multipartParts(xml);
      assert.ok(parts.every((part) => part.headers['content-type'] === 'application/dicom+xml'));
      const xmlNumbers = parts.map((part) => /tag="00200013"[^>]*><Value number="1">([^<]*)</.exec(part.body.toString('utf8'))?.[1]);
      assert.deepEqual(xmlNumbers, numbers.map(String), 'the same instances, in the same order');
    });
  });

  describe('retrieve frames', () => {
    const octetStream = (transferSyntax?: string) => `multipart/related; type="application/octet-stream"${transferSyntax ? `; transfer-syntax=${transferSyntax}` : ''}`;
    const frameList = (count: number) => Array.from({ length: count }, (_, index) => index + 1).join(',');

    it('returns every frame of every image as native little endian pixels equal to those DCMTK decodes', async () => {
      let checked = 0;
      for (const { name, file, parsed, url, token } of samples.values()) {
        if (!parsed.pixelData) continue;
        const frames = parsed.pixelData.numberOfFrames;
        const response = await get(`${url}/frames/${frameList(frames)}`, token, octetStream());
        assert.equal(response.status, 200, `${name}: ${response.body}`);
        const parts = multipartParts(response);
        assert.equal(parts.length, frames, name);
        for (const part of parts) assert.equal(part.headers['content-type'], `application/octet-stream; transfer-syntax=${EXPLICIT_LE}`);
        if (!dcmtkDecodes(parsed.encoding.transferSyntaxUID)) continue; // JPEG 2000: decoded by the same codec as the check would use
        const reference = await nativePixels(await dcmtkExplicitLittleEndian(file));
        const received = Buffer.concat(parts.map((part) => part.body));
        const planar = descriptionOf(parsed.dicomJson).planarConfiguration === 1 && !parsed.pixelData.encapsulated;
        assert.ok((planar ? interleaved(received, reference.description) : received).equals(reference.bytes), `${name}: frames equal the pixel data`);
        checked++;
      }
      assert.ok(checked >= 15, `${checked} files checked`);
    });

    it('returns frames of multi-frame images in the order asked, and one frame as a single part when asked so', async () => {
      for (const [name, url, token, file] of [
        ['rtdose.dcm', sample('rtdose.dcm').url, sample('rtdose.dcm').token, sample('rtdose.dcm').file],
        ['SC_rgb_rle_2frame.dcm', sample('SC_rgb_rle_2frame.dcm').url, sample('SC_rgb_rle_2frame.dcm').token, sample('SC_rgb_rle_2frame.dcm').file],
        ['ct-multiframe', instanceUrl(synthetic.get(SYNTHETIC_MULTIFRAME)!), mainToken, SYNTHETIC_MULTIFRAME],
      ] as const) {
        const reference = await nativePixels(await dcmtkExplicitLittleEndian(file));
        const count = reference.description.numberOfFrames;
        assert.ok(count >= 2, name);
        const frameLength = reference.bytes.length / count;
        const frame = (number: number) => reference.bytes.subarray((number - 1) * frameLength, number * frameLength);
        const order = [...new Set([count, 1, Math.ceil(count / 2)])];
        const response = await get(`${url}/frames/${order.join(',')}`, token, octetStream());
        assert.equal(response.status, 200, name);
        multipartParts(response).forEach((part, index) => assert.ok(part.body.equals(frame(order[index]!)), `${name} frame ${order[index]}`));

        const single = await get(`${url}/frames/${count}`, token, 'application/octet-stream');
        assert.equal(single.status, 200, name);
        assert.equal(single.headers['content-type'], `application/octet-stream; transfer-syntax=${EXPLICIT_LE}`);
        assert.ok((single.body as Buffer).equals(frame(count)), `${name}: the last frame as a single part`);
      }
      assert.equal((await get(`${sample('rtdose.dcm').url}/frames/15`, sample('rtdose.dcm').token)).status, 200, 'frame 15 of 15');
      assert.equal(synthetic.get(SYNTHETIC_MULTIFRAME)!.pixelData!.numberOfFrames, 16);
    });

    it('with transfer-syntax=* returns compressed frames as stored, each part naming its media type and Transfer Syntax', async () => {
      for (const { name, file, parsed, url, token } of samples.values()) {
        if (!parsed.pixelData?.encapsulated) continue;
        const frames = parsed.pixelData.frames!;
        const response = await get(`${url}/frames/${frameList(frames.length)}`, token, octetStream('*'));
        assert.equal(response.status, 200, name);
        const bytes = fs.readFileSync(file);
        multipartParts(response).forEach((part, index) => {
          assert.equal(transferSyntaxOf(part.headers['content-type']), parsed.encoding.transferSyntaxUID, name);
          assert.match(part.headers['content-type']!, /^image\//, name);
          const stored = Buffer.concat(frames[index]!.ranges.map(({ offset, length }) => bytes.subarray(offset, offset + length)));
          assert.ok(part.body.equals(stored), `${name} frame ${index + 1} as stored`);
        });
      }
      const jpeg = sample('SC_rgb_jpeg_dcmtk.dcm');
      const ohif = await get(`${jpeg.url}/frames/1`, jpeg.token, 'multipart/related; type=application/octet-stream; transfer-syntax=*');
      assert.equal(multipartParts(ohif)[0]!.headers['content-type'], `image/jpeg; transfer-syntax=${JPEG_BASELINE}`, 'what OHIF asks: the frame as stored, its syntax named');
      const jls = sample('MR_small_jpeg_ls_lossless.dcm');
      for (const accept of ['multipart/related; type="image/jls"', 'multipart/related; type=image/x-jls; transfer-syntax=1.2.840.10008.1.2.4.80', '*/*; transfer-syntax=*']) {
        const response = await get(`${jls.url}/frames/1`, jls.token, accept);
        assert.equal(response.status, 200, accept);
        assert.equal(transferSyntaxOf(multipartParts(response)[0]!.headers['content-type']), JPEG_LS, accept);
      }
    });

    it('never serves what a media range refuses with q=0 (RFC 9110 12.5.1), falling back to what else is accepted', async () => {
      const jpeg = sample('SC_rgb_jpeg_dcmtk.dcm');
      const asStored = await get(`${jpeg.url}/frames/1`, jpeg.token, '*/*; transfer-syntax=*');
      assert.equal(multipartParts(asStored)[0]!.headers['content-type'], `image/jpeg; transfer-syntax=${JPEG_BASELINE}`, 'without the refusal: as stored');
      for (const accept of ['image/jpeg;q=0, */*; transfer-syntax=*', 'multipart/related; type="image/jpeg"; q=0, multipart/related; type=application/octet-stream; transfer-syntax=*']) {
        const refused = await get(`${jpeg.url}/frames/1`, jpeg.token, accept);
        assert.equal(refused.status, 200, accept);
        assert.equal(multipartParts(refused)[0]!.headers['content-type'], `application/octet-stream; transfer-syntax=${EXPLICIT_LE}`, accept);
      }
      assert.equal((await get(`${jpeg.url}/frames/1`, jpeg.token, 'multipart/related; type="image/jpeg"; q=0')).status, 406);

      const instance = await get(jpeg.url, jpeg.token, `${dicomAccept(JPEG_BASELINE)}; q=0, ${dicomAccept('*')}`);
      assert.equal(instance.status, 200);
      assert.equal(transferSyntaxOf(multipartParts(instance)[0]!.headers['content-type']), EXPLICIT_LE, 'the stored JPEG is refused: the default instead');
      assert.equal((await get(jpeg.url, jpeg.token, `${dicomAccept()}; q=0, */*`)).status, 406, 'application/dicom refused');
      const metadata = await get(`${jpeg.url}/metadata`, jpeg.token, 'application/dicom+json; q=0, */*');
      assert.equal(metadata.status, 200);
      assert.match(metadata.get('content-type')!, /^multipart\/related; type="application\/dicom\+xml"/, 'DICOM JSON refused: the XML form instead');
      assert.equal((await get(`${jpeg.url}/metadata`, jpeg.token, 'application/dicom+json; q=0, multipart/related; type="application/dicom+xml"; q=0')).status, 406, 'both forms refused');
    });

    it('encodes native frames into the compressed media type asked for, losslessly', async () => {
      const mr = sample('MR_small.dcm');
      const reference = await nativePixels(mr.file);
      for (const [accept, transferSyntax] of [
        ['multipart/related; type="image/jls"', JPEG_LS], ['multipart/related; type="image/jp2"', JPEG_2000],
        ['multipart/related; type="image/dicom-rle"', RLE], [`multipart/related; type="image/jpeg"; transfer-syntax=${JPEG_LOSSLESS}`, JPEG_LOSSLESS],
      ] as const) {
        const response = await get(`${mr.url}/frames/1`, mr.token, accept);
        assert.equal(response.status, 200, accept);
        const [part] = multipartParts(response);
        assert.equal(transferSyntaxOf(part!.headers['content-type']), transferSyntax);
        const decoded = await decodeFrame(part!.body, transferSyntax, reference.description);
        assert.ok(decoded.bytes.equals(reference.bytes), `${transferSyntax} decodes to the stored pixels`);
      }
      assert.equal((await get(`${mr.url}/frames/1`, mr.token, 'multipart/related; type="image/jpeg"; transfer-syntax=1.2.840.10008.1.2.4.50')).status, 406);
      assert.equal((await get(`${mr.url}/frames/1`, mr.token, 'text/html')).status, 406);
    });

    it('answers 400 for a malformed frame list, 404 for frames beyond Number of Frames and for an instance without pixel data', async () => {
      const rtdose = sample('rtdose.dcm');
      for (const list of ['0', 'a', '1,,2', '1,1', '-1', '1;2']) {
        assert.equal((await get(`${rtdose.url}/frames/${encodeURIComponent(list)}`, rtdose.token)).status, 400, list);
      }
      assert.equal((await get(`${rtdose.url}/frames/1%2C2`, rtdose.token)).status, 200, 'a comma may be sent as %2C');
      assert.equal((await get(`${rtdose.url}/frames/16`, rtdose.token)).status, 404);
      assert.equal((await get(`${rtdose.url}/frames/3,16`, rtdose.token)).status, 404);
      const sr = sample('test-SR.dcm');
      const response = await get(`${sr.url}/frames/1`, sr.token);
      assert.equal(response.status, 404);
      assert.match(JSON.parse(String(response.body)).issue[0].diagnostics, /no Pixel Data/);
    });
  });

  describe('retrieve bulk data', () => {
    it('returns each file\'s native pixel data little endian, and compressed pixel data frame by frame', async () => {
      for (const { name, file, parsed, url, token } of samples.values()) {
        if (!parsed.pixelData || !dcmtkDecodes(parsed.encoding.transferSyntaxUID)) continue;
        const response = await get(`${url}/bulkdata/7FE00010`, token, 'multipart/related; type="application/octet-stream"');
        assert.equal(response.status, 200, name);
        const parts = multipartParts(response);
        const reference = await nativePixels(await dcmtkExplicitLittleEndian(file));
        const received = Buffer.concat(parts.map((part) => part.body));
        const planar = descriptionOf(parsed.dicomJson).planarConfiguration === 1 && !parsed.pixelData.encapsulated;
        assert.ok((planar ? interleaved(received, reference.description) : received).equals(reference.bytes), name);
        assert.equal(parts.length, parsed.pixelData.encapsulated ? parsed.pixelData.numberOfFrames : 1, name);
      }
    });

    it('returns any bulk value a BulkDataURI names, as a single part when asked so; 404 and 400 for unknown and malformed references', async () => {
      let checked = 0;
      for (const { name, file, parsed, url, token } of samples.values()) {
        if (parsed.encoding.transferSyntaxUID !== EXPLICIT_LE) continue;
        const bytes = fs.readFileSync(file);
        for (const location of parsed.bulkData.filter((candidate) => candidate.reference !== '7FE00010' && !candidate.encapsulated)) {
          const response = await get(`${url}/bulkdata/${location.reference}`, token, 'application/octet-stream');
          assert.equal(response.status, 200, `${name} ${location.reference}`);
          assert.equal(response.headers['content-type'], 'application/octet-stream');
          assert.ok((response.body as Buffer).equals(bytes.subarray(location.offset, location.offset + location.length)), `${name} ${location.reference}`);
          checked++;
        }
      }
      assert.ok(checked > 0, 'some files have bulk data besides pixel data');
      const mr = sample('MR_small.dcm');
      assert.equal((await get(`${mr.url}/bulkdata/00091234`, mr.token)).status, 404);
      assert.equal((await get(`${mr.url}/bulkdata/7FE0`, mr.token)).status, 400);
      assert.equal((await get(`${mr.url}/bulkdata/00880200/x/7FE00010`, mr.token)).status, 400);
    });

    it('serves big endian and deflated pixel data little endian', async () => {
      for (const name of ['MR_small_bigendian.dcm', 'ExplVR_BigEnd.dcm', 'image_dfl.dcm']) {
        const { file, url, token, parsed } = sample(name);
        const response = await get(`${url}/bulkdata/7FE00010`, token, 'application/octet-stream');
        assert.equal(response.status, 200, name);
        const reference = await nativePixels(await dcmtkExplicitLittleEndian(file));
        const planar = descriptionOf(parsed.dicomJson).planarConfiguration === 1;
        const received = response.body as Buffer;
        assert.ok((planar ? interleaved(received, reference.description) : received).equals(reference.bytes), name);
      }
    });
  });

  describe('dicomweb-client against a listening server', () => {
    let server: ListeningApp;
    let token: string;
    let tenantId: string;
    const mr = pydicomFile('MR_small.dcm');
    const rle = pydicomFile('SC_rgb_rle_2frame.dcm');
    before(async () => {
      server = await startListeningApp();
      ({ tenantId, token } = await listeningTenantWithToken(server, ['system/ImagingStudy.read']));
      await storeFiles(server.services, tenantId, [mr, rle, ...syntheticStudy('03-ct')]);
    });
    after(() => server.close());

    it('stops a retrieval whose client goes away, leaving no blob open, and serves the next one', async () => {
      // A study larger than what socket buffers hold: 8 copies of the 7.8 MB panoramic, one series.
      const [panoramic] = syntheticStudy('02-px');
      const copies = Array.from({ length: 8 }, (_, index) =>
        modifiedCopy(panoramic!, `panoramic-copy-${index}.dcm`, '-m', `(0008,0018)=1.2.826.0.1.3680043.2.1143.7007.${index + 1}`));
      for (const result of await storeFiles(server.services, tenantId, copies)) assert.ok(result.stored);
      const blobRoot = path.join(server.services.config.dataDir, 'blobs');
      const openBlobs = () => fs.readdirSync('/proc/self/fd').filter((fd) => {
        try {
          return fs.readlinkSync(`/proc/self/fd/${fd}`).startsWith(blobRoot);
        } catch {
          return false; // closed meanwhile
        }
      }).length;
      const study = (await parseInstanceFile(panoramic!)).attributes.StudyInstanceUID;
      const url = `${server.baseUrl}/dicomweb/studies/${study}`;
      const headers = { authorization: `Bearer ${token}`, accept: 'multipart/related; type="application/dicom"; transfer-syntax=*' };
      const request = http.get(url, { headers });
      request.on('error', () => undefined); // the reset this test makes
      const response = await new Promise<http.IncomingMessage>((resolve) => request.once('response', resolve));
      assert.equal(response.statusCode, 200);
      response.pause(); // a client that stops reading: the server waits with a blob open
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.ok(openBlobs() > 0, 'mid-response, a blob is open');
      request.destroy();
      for (let waited = 0; openBlobs() > 0 && waited < 250; waited += 25) await new Promise((resolve) => setTimeout(resolve, 25));
      assert.equal(openBlobs(), 0, 'the blobs are closed at once, not when collected as garbage');
      const again = await fetch(url, { headers });
      assert.equal(again.status, 200);
      assert.ok(Buffer.from(await again.arrayBuffer()).length > copies.reduce((sum, file) => sum + fs.statSync(file).size, 0), 'the whole study, in parts');
    });

    it('retrieveInstance, retrieveSeriesMetadata, retrieveInstanceFrames and retrieveBulkData', async () => {
      const client = await dicomwebClient(server.baseUrl, token);
      const parsed = await parseInstanceFile(mr);
      const uids = {
        studyInstanceUID: parsed.attributes.StudyInstanceUID, seriesInstanceUID: parsed.attributes.SeriesInstanceUID, sopInstanceUID: parsed.attributes.SOPInstanceUID,
      };
      const instance = await client.retrieveInstance(uids) as ArrayBuffer;
      assert.ok(Buffer.from(instance).equals(fs.readFileSync(mr)), 'retrieveInstance: byte for byte');

      const ct = await Promise.all(syntheticStudy('03-ct').map((file) => parseInstanceFile(file)));
      const metadata = await client.retrieveSeriesMetadata({
        studyInstanceUID: ct[0]!.attributes.StudyInstanceUID, seriesInstanceUID: ct[0]!.attributes.SeriesInstanceUID,
      }) as DicomJsonDataSet[];
      assert.equal(metadata.length, ct.length);
      assert.ok(metadata.every((dataSet) => dataSet['7FE00010']!.BulkDataURI!.startsWith(`${server.baseUrl}/dicomweb/studies/`)), 'BulkDataURIs lead to this server');

      const rleParsed = await parseInstanceFile(rle);
      const frames = await client.retrieveInstanceFrames({
        studyInstanceUID: rleParsed.attributes.StudyInstanceUID, seriesInstanceUID: rleParsed.attributes.SeriesInstanceUID,
        sopInstanceUID: rleParsed.attributes.SOPInstanceUID, frameNumbers: [1, 2],
      }) as ArrayBuffer[];
      const reference = await nativePixels(await dcmtkExplicitLittleEndian(rle));
      assert.ok(Buffer.concat(frames.map((frame) => Buffer.from(frame))).equals(reference.bytes), 'retrieveInstanceFrames: the decoded frames');

      const [first] = metadata;
      const bulk = await client.retrieveBulkData({ BulkDataURI: first!['7FE00010']!.BulkDataURI! }) as ArrayBuffer[];
      const sop = first!['00080018']!.Value![0];
      const file = syntheticStudy('03-ct').find((_, index) => ct[index]!.attributes.SOPInstanceUID === sop)!;
      assert.ok(Buffer.from(bulk[0]!).equals((await nativePixels(file)).bytes), 'retrieveBulkData: the pixel data');
    });
  });
});

/** The pixels of a file in a syntax DCMTK 3.6.7 cannot decode (JPEG 2000, HTJ2K), decoded frame by frame by OpenJPEG/OpenJPH. */
async function decodedWithOurCodecs(file: string): Promise<NativePixels> {
  const parsed = await parseInstanceFile(file);
  const bytes = fs.readFileSync(file);
  const description = descriptionOf(parsed.dicomJson);
  const frames = await Promise.all(parsed.pixelData!.frames!.map((frame) =>
    decodeFrame(Buffer.concat(frame.ranges.map(({ offset, length }) => bytes.subarray(offset, offset + length))), parsed.encoding.transferSyntaxUID, description)));
  return { bytes: Buffer.concat(frames.map((frame) => frame.bytes)), description: frames[0]!.description };
}
