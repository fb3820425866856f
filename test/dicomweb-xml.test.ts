// The XML form of DICOMweb data sets (PS3.19 Native DICOM Model, application/dicom+xml): every
// file of the sample corpus written as XML and read back equals DCMTK's dcm2xml --native-format of
// the file (binary encodings aside); metadata, QIDO-RS results and the Store Instances Response are
// served in it when asked, and it carries what the JSON form carries.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { XMLParser } from 'fast-xml-parser';
import { nativeDicomModel, parseInstanceFile, type DicomJsonDataSet } from '../src/dicom/index.ts';
import { startTestApp, tenantWithToken, type TestApp } from './support/app.ts';
import { asBinary, dicomFilesIn, multipartParts, multipartRelated, pydicomFile, SAMPLES, storeFiles, stowContentType, syntheticStudy } from './support/dicomweb.ts';

const run = promisify(execFile);
const XML_MULTIPART = 'multipart/related; type="application/dicom+xml"';
const NAMESPACE = 'http://dicom.nema.org/PS3.19/models/NativeDICOM';

// ---- reading the Native DICOM Model -------------------------------------------------------------

type XmlNode = Record<string, unknown>;
/** An attribute as the comparison sees it: its VR, keyword, private creator and values (items are data sets, names their components). */
interface ReadAttribute { vr: string; keyword?: string; privateCreator?: string; values: unknown[] }
type ReadDataSet = Record<string, ReadAttribute>;

const parser = new XMLParser({
  ignoreAttributes: false, attributeNamePrefix: '@', parseTagValue: false, parseAttributeValue: false, trimValues: false, htmlEntities: true,
  isArray: (name) => ['DicomAttribute', 'Value', 'Item', 'PersonName'].includes(name),
});

const NUMERIC_VRS = new Set(['DS', 'IS', 'FL', 'FD', 'SL', 'SS', 'UL', 'US', 'SV', 'UV']);
const NAME_COMPONENTS = ['FamilyName', 'GivenName', 'MiddleName', 'NamePrefix', 'NameSuffix'];

function readDocument(xml: string): ReadDataSet {
  const root = parser.parse(xml).NativeDicomModel as XmlNode | undefined;
  assert.ok(root, 'a NativeDicomModel document');
  return readDataSet(root);
}

function readDataSet(node: XmlNode): ReadDataSet {
  const dataSet: ReadDataSet = {};
  for (const attribute of (node.DicomAttribute ?? []) as XmlNode[]) {
    const vr = attribute['@vr'] as string;
    const read: ReadAttribute = { vr, values: [] };
    if (attribute['@keyword'] !== undefined) read.keyword = attribute['@keyword'] as string;
    if (attribute['@privateCreator'] !== undefined) read.privateCreator = attribute['@privateCreator'] as string;
    if (attribute.BulkData !== undefined || attribute.InlineBinary !== undefined) read.values = ['<binary>'];
    else if (vr === 'SQ') read.values = ((attribute.Item ?? []) as XmlNode[]).map((item) => readDataSet(typeof item === 'object' ? item : {}));
    else if (vr === 'PN') read.values = ((attribute.PersonName ?? []) as XmlNode[]).map(personName);
    else read.values = ((attribute.Value ?? []) as unknown[]).map((value) => valueText(value, vr));
    dataSet[attribute['@tag'] as string] = read;
  }
  return dataSet;
}

function valueText(value: unknown, vr: string): unknown {
  const text = typeof value === 'object' && value !== null ? String((value as XmlNode)['#text'] ?? '') : String(value);
  if (!NUMERIC_VRS.has(vr) || text === '') return text;
  // DCMTK writes FL with 9 digits, the JSON model the shortest that reads back as the same float.
  return vr === 'FL' ? Math.fround(Number(text)) : Number(text);
}

function personName(node: XmlNode): Record<string, string> {
  const groups: Record<string, string> = {};
  for (const group of ['Alphabetic', 'Ideographic', 'Phonetic']) {
    const components = node[group] as XmlNode | undefined;
    if (components) groups[group] = NAME_COMPONENTS.map((name) => String(components[name] ?? '')).join('^').replace(/\^+$/, '');
  }
  return groups;
}

/**
 * What must be equal: all but Specific Character Set, which dcm2xml +U8 rewrites to ISO_IR 192 while
 * the stored data set keeps it, and keywords, compared apart (DCMTK leaves out those of some retired
 * attributes).
 */
function comparable(dataSet: ReadDataSet): ReadDataSet {
  const { '00080005': _characterSet, ...rest } = dataSet;
  return Object.fromEntries(Object.entries(rest).map(([tag, { keyword: _keyword, ...attribute }]) => [tag, attribute.vr === 'SQ'
    ? { ...attribute, values: attribute.values.map((item) => comparable(item as ReadDataSet)) } : attribute]));
}

/** Every keyword the reference gives is the one given here. */
function assertKeywordsAgree(ours: ReadDataSet, reference: ReadDataSet): void {
  for (const [tag, { keyword, vr, values }] of Object.entries(reference)) {
    if (keyword !== undefined && tag !== '00080005') assert.equal(ours[tag]?.keyword, keyword, tag); // +U8 adds a Specific Character Set
    if (vr === 'SQ') values.forEach((item, index) => assertKeywordsAgree((ours[tag]!.values[index] ?? {}) as ReadDataSet, item as ReadDataSet));
  }
}

/** DCMTK's Native DICOM Model of a file, values converted to UTF-8. */
async function dcm2xml(file: string): Promise<ReadDataSet> {
  const { stdout } = await run('dcm2xml', ['-q', '-nat', '+U8', file], { maxBuffer: 256 * 1024 * 1024, encoding: 'utf8' });
  return readDocument(stdout);
}

describe('DICOM XML (PS3.19 Native DICOM Model)', function () {
  this.timeout(120_000);

  describe('each file of the corpus as XML equals dcm2xml --native-format (binary encodings aside)', () => {
    for (const full of dicomFilesIn(SAMPLES)) {
      it(path.relative(SAMPLES, full), async () => {
        const xml = nativeDicomModel((await parseInstanceFile(full)).dicomJson);
        assert.match(xml, new RegExp(`^<\\?xml version="1.0" encoding="UTF-8"\\?>\\n<NativeDicomModel xmlns="${NAMESPACE}"`));
        const read = readDocument(xml);
        const dcmtk = await dcm2xml(full);
        const [ours, reference] = [comparable(read), comparable(dcmtk)];
        // dcm2xml cannot write encapsulated pixel data as a value, and names it only when it can read it.
        for (const dataSet of [ours, reference]) delete dataSet['7FE00010'];
        assert.deepEqual(ours, reference);
        assertKeywordsAgree(read, dcmtk);
      });
    }
  });

  it('keeps markup, carriage returns and characters XML cannot carry from breaking the document', () => {
    const xml = nativeDicomModel({
      '00104000': { vr: 'LT', Value: ['<a href="x">&</a>\r\nline two\u0001'] },
      '00100010': { vr: 'PN', Value: [{ Alphabetic: 'Doe^Jane', Ideographic: '山田^太郎' }, null] },
      '00200032': { vr: 'DS', Value: [1.5, null, -2] },
    });
    const read = readDocument(xml);
    assert.deepEqual(read['00104000']!.values, ['<a href="x">&</a>\r\nline two\uFFFD']);
    assert.deepEqual(read['00100010']!.values, [{ Alphabetic: 'Doe^Jane', Ideographic: '山田^太郎' }, {}]);
    assert.deepEqual(read['00200032']!.values, [1.5, '', -2]);
  });

  describe('served by DICOMweb', () => {
    let app: TestApp;
    let token: string;
    const files = [pydicomFile('CT_small.dcm'), pydicomFile('MR_small.dcm'), ...syntheticStudy('01-io')];
    const get = (url: string, accept: string) => asBinary(app.request.get(url).set('Authorization', `Bearer ${token}`).set('Accept', accept));

    before(async () => {
      app = await startTestApp();
      let tenantId: string;
      ({ tenantId, token } = await tenantWithToken(app, ['system/ImagingStudy.*']));
      const stored = await storeFiles(app.services, tenantId, files);
      assert.ok(stored.every((result) => result.stored));
    });
    after(() => app.close());

    it('gives an instance\'s metadata as XML equal to the JSON form, BulkDataURIs included', async () => {
      const { StudyInstanceUID, SeriesInstanceUID, SOPInstanceUID } = (await parseInstanceFile(files[0]!)).attributes;
      const url = `/dicomweb/studies/${StudyInstanceUID}/series/${SeriesInstanceUID}/instances/${SOPInstanceUID}/metadata`;
      const xml = await get(url, XML_MULTIPART);
      assert.equal(xml.status, 200);
      assert.match(xml.get('content-type')!, /^multipart\/related; type="application\/dicom\+xml"; boundary=/);
      const parts = multipartParts(xml.body, xml.get('content-type')!);
      assert.equal(parts.length, 1);
      assert.equal(parts[0]!.headers['content-type'], 'application/dicom+xml');
      const json = JSON.parse((await get(url, 'application/dicom+json')).body.toString('utf8')) as DicomJsonDataSet[];
      assert.equal(parts[0]!.body.toString('utf8'), nativeDicomModel(json[0]!), 'the XML form of the JSON form');
      assert.match(parts[0]!.body.toString('utf8'), new RegExp(`<DicomAttribute tag="7FE00010" vr="OW" keyword="PixelData"><BulkData uri="[^"]+/instances/${SOPInstanceUID}/bulkdata/7FE00010"/>`));
      const served = comparable(readDocument(parts[0]!.body.toString('utf8')));
      const reference = comparable(await dcm2xml(files[0]!));
      for (const dataSet of [served, reference]) delete dataSet['7FE00010'];
      assert.deepEqual(served, reference, 'and equal to dcm2xml of the file');
    });

    it('answers a QIDO-RS search in XML with one result per part, the same results as in JSON, and 204 when none matches', async () => {
      const json = JSON.parse((await get('/dicomweb/studies?includefield=all', 'application/dicom+json')).body.toString('utf8')) as DicomJsonDataSet[];
      const xml = await get('/dicomweb/studies?includefield=all', `${XML_MULTIPART}, application/dicom+json; q=0.5`);
      assert.equal(xml.status, 200);
      assert.match(xml.get('vary') ?? '', /\bAccept\b/, 'negotiated on Accept, and says so to caches');
      const parts = multipartParts(xml.body, xml.get('content-type')!);
      assert.deepEqual(parts.map((part) => part.body.toString('utf8')), json.map((dataSet) => nativeDicomModel(dataSet)));
      assert.equal(parts.length, 3, 'CT_small, MR_small and the bitewings: three studies');

      assert.equal((await get('/dicomweb/studies?PatientID=nobody', XML_MULTIPART)).status, 204);
      assert.equal((await get('/dicomweb/studies', 'application/dicom+xml')).status, 406, 'a list is XML only as multipart');
      const preferred = await get('/dicomweb/studies', `application/dicom+json, ${XML_MULTIPART}`);
      assert.match(preferred.get('content-type')!, /^application\/dicom\+json/, 'JSON where both are as welcome');
    });

    it('answers a store in XML when asked: the Store Instances Response as one application/dicom+xml document', async () => {
      const file = syntheticStudy('04-xc')[0]!;
      const body = multipartRelated([{ bytes: fs.readFileSync(file) }]);
      const answer = await asBinary(app.request.post('/dicomweb/studies').set('Authorization', `Bearer ${token}`)
        .set('Content-Type', stowContentType()).set('Accept', 'application/dicom+xml').send(body));
      assert.equal(answer.status, 200);
      assert.match(answer.get('content-type')!, /^application\/dicom\+xml/);
      const response = readDocument(answer.body.toString('utf8'));
      const { SOPInstanceUID, StudyInstanceUID } = (await parseInstanceFile(file)).attributes;
      assert.match(String(response['00081190']!.values[0]), new RegExp(`/studies/${StudyInstanceUID}$`));
      const [referenced] = response['00081199']!.values as ReadDataSet[];
      assert.deepEqual(referenced!['00081155']!.values, [SOPInstanceUID]);
    });
  });
});
