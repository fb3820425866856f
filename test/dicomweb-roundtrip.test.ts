// The whole imaging path as a viewer and an imaging device see it, with the dicomweb-client
// package against a listening server: the sample corpus and the dental studies stored by STOW-RS,
// found by QIDO-RS, retrieved by WADO-RS byte for byte, their metadata equal to the files'
// attributes (DCMTK's dcm2json the reference), frames equal to the pixel data, rendered images of
// the right size, and each study a FHIR ImagingStudy of the right patient.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import sharp from 'sharp';
import { parseInstanceBuffer, parseInstanceFile, type ParsedInstance } from '../src/dicom/index.ts';
import { dicomFilesIn, dicomwebClient, type DicomwebClient, PYDICOM, SYNTHETIC_MULTIFRAME, SYNTHETIC_PATIENT } from './support/dicomweb.ts';
import { listeningTenantWithToken, startListeningApp, type ListeningApp } from './support/listening.ts';

type Json = Record<string, any>;

const value = (dataSet: Json, tag: string) => dataSet[tag]?.Value?.[0];
const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';

/** DCMTK's DICOM JSON of `file` (binary values inline, which comparableValues leaves aside). */
function dcm2json(file: string): Json {
  return JSON.parse(execFileSync('dcm2json', ['-q', file], { maxBuffer: 256 * 1024 * 1024 }).toString('utf8')) as Json;
}

/** Attributes that hold values in both representations, compared as strings (number formatting aside). */
function comparableValues(dataSet: Json): Record<string, string> {
  const values: Record<string, string> = {};
  for (const [tag, attribute] of Object.entries(dataSet)) {
    if (tag.startsWith('0002') || attribute.vr === 'SQ' || !attribute.Value) continue;
    values[tag] = JSON.stringify(attribute.Value.map((item: unknown) => (typeof item === 'number' ? Number(item.toPrecision(6)) : item)));
  }
  return values;
}

describe('DICOMweb round trip with dicomweb-client', function () {
  this.timeout(180_000);
  let server: ListeningApp;
  let token: string;
  let client: DicomwebClient;
  /** The first file of each SOP instance, as stored (later files with the same UID are refused duplicates). */
  const stored = new Map<string, { file: string; instance: ParsedInstance }>();

  before(async () => {
    server = await startListeningApp();
    ({ token } = await listeningTenantWithToken(server, ['system/ImagingStudy.*', 'system/Patient.read', 'system/Endpoint.read']));
    client = await dicomwebClient(server.baseUrl, token);

    const files = [...dicomFilesIn(SYNTHETIC_PATIENT), SYNTHETIC_MULTIFRAME, ...dicomFilesIn(PYDICOM)];
    for (const file of files) {
      const instance = await parseInstanceFile(file);
      if (!stored.has(instance.attributes.SOPInstanceUID)) stored.set(instance.attributes.SOPInstanceUID, { file, instance });
    }
    // One request per study, as a modality sends them.
    const byStudy = new Map<string, string[]>();
    for (const { file, instance } of stored.values()) byStudy.set(instance.attributes.StudyInstanceUID, [...(byStudy.get(instance.attributes.StudyInstanceUID) ?? []), file]);
    for (const [studyInstanceUID, studyFiles] of byStudy) {
      const answer = JSON.parse(await client.storeInstances({ studyInstanceUID, datasets: studyFiles.map((file) => new Uint8Array(fs.readFileSync(file)).buffer) }) as string);
      assert.equal(answer['00081199'].Value.length, studyFiles.length, `every instance of study ${studyInstanceUID} is stored`);
    }
  });
  after(() => server.close());

  it('finds every study, series and instance by QIDO-RS', async () => {
    const studies = await client.searchForStudies() as Json[];
    const studyUids = new Set([...stored.values()].map(({ instance }) => instance.attributes.StudyInstanceUID));
    assert.deepEqual(new Set(studies.map((study) => value(study, '0020000D'))), studyUids);
    const dental = await client.searchForStudies({ queryParams: { PatientID: 'D1-000001' } }) as Json[];
    assert.equal(dental.length, 4);
    for (const study of dental) {
      const studyInstanceUID = value(study, '0020000D');
      const instances = [...stored.values()].filter(({ instance }) => instance.attributes.StudyInstanceUID === studyInstanceUID);
      assert.equal(value(study, '00201208'), instances.length, 'NumberOfStudyRelatedInstances');
      const series = await client.searchForSeries({ studyInstanceUID }) as Json[];
      assert.equal(series.length, new Set(instances.map(({ instance }) => instance.attributes.SeriesInstanceUID)).size);
      const found = await client.searchForInstances({ studyInstanceUID, seriesInstanceUID: value(series[0]!, '0020000E') }) as Json[];
      assert.deepEqual(new Set(found.map((item) => value(item, '00080018'))),
        new Set(instances.filter(({ instance }) => instance.attributes.SeriesInstanceUID === value(series[0]!, '0020000E')).map(({ instance }) => instance.attributes.SOPInstanceUID)));
    }
  });

  it('retrieves every instance: byte for byte when stored in Explicit VR Little Endian (what the client asks), else transcoded to it', async () => {
    for (const { file, instance } of stored.values()) {
      const { StudyInstanceUID: studyInstanceUID, SeriesInstanceUID: seriesInstanceUID, SOPInstanceUID: sopInstanceUID, TransferSyntaxUID } = instance.attributes;
      const retrieved = Buffer.from(await client.retrieveInstance({ studyInstanceUID, seriesInstanceUID, sopInstanceUID }) as ArrayBuffer);
      if (TransferSyntaxUID === EXPLICIT_VR_LITTLE_ENDIAN) {
        assert.ok(retrieved.equals(fs.readFileSync(file)), `${file} comes back identical`);
      } else {
        const transcoded = await parseInstanceBuffer(retrieved);
        assert.equal(transcoded.attributes.TransferSyntaxUID, EXPLICIT_VR_LITTLE_ENDIAN, file);
        assert.equal(transcoded.attributes.SOPInstanceUID, sopInstanceUID);
      }
    }
  });

  it('gives series metadata equal to the files\' attributes', async () => {
    for (const { file, instance } of [...stored.values()].filter(({ file }) => file.startsWith(SYNTHETIC_PATIENT)).slice(0, 6)) {
      const metadata = await client.retrieveSeriesMetadata({
        studyInstanceUID: instance.attributes.StudyInstanceUID, seriesInstanceUID: instance.attributes.SeriesInstanceUID,
      }) as Json[];
      const mine = metadata.find((item) => value(item, '00080018') === instance.attributes.SOPInstanceUID)!;
      assert.ok(mine, 'the instance is in its series metadata');
      assert.deepEqual(comparableValues(mine), comparableValues(dcm2json(file)), file);
      assert.match(mine['7FE00010'].BulkDataURI, new RegExp(`^${server.baseUrl}/dicomweb/studies/`));
    }
  });

  it('returns frames equal to the pixel data', async () => {
    const { instance } = [...stored.values()].find(({ file }) => file === SYNTHETIC_MULTIFRAME)!;
    const { Rows: rows, Columns: columns, NumberOfFrames: frames } = instance.attributes;
    const frameBytes = rows! * columns! * 2;
    // Pixel Data is the file's last element: its native frames end the file.
    const file = fs.readFileSync(SYNTHETIC_MULTIFRAME);
    const pixelStart = file.length - frameBytes * frames!;
    for (const frame of [1, 7, frames!]) {
      const [retrieved] = await client.retrieveInstanceFrames({
        studyInstanceUID: instance.attributes.StudyInstanceUID, seriesInstanceUID: instance.attributes.SeriesInstanceUID,
        sopInstanceUID: instance.attributes.SOPInstanceUID, frameNumbers: [frame],
      }) as ArrayBuffer[];
      const expected = file.subarray(pixelStart + (frame - 1) * frameBytes, pixelStart + frame * frameBytes);
      assert.ok(Buffer.from(retrieved!).equals(expected), `frame ${frame}`);
    }
  });

  it('renders JPEG and PNG of the image\'s size', async () => {
    const { instance } = [...stored.values()].find(({ file }) => file.includes('02-px'))!;
    const { StudyInstanceUID: studyInstanceUID, SeriesInstanceUID: seriesInstanceUID, SOPInstanceUID: sopInstanceUID, Rows: rows, Columns: columns } = instance.attributes;
    for (const mediaType of ['image/jpeg', 'image/png']) {
      const [rendered] = await client.retrieveInstanceRendered({ studyInstanceUID, seriesInstanceUID, sopInstanceUID, mediaTypes: [{ mediaType }] }) as ArrayBuffer[];
      const image = await sharp(Buffer.from(rendered!)).metadata();
      assert.equal(image.format, mediaType === 'image/jpeg' ? 'jpeg' : 'png');
      assert.deepEqual([image.width, image.height], [columns, rows]);
    }
  });

  it('shows each stored study as a FHIR ImagingStudy of the patient its PatientID names', async () => {
    const { instance } = [...stored.values()].find(({ file }) => file.includes('01-io'))!;
    const get = async (path: string) => (await fetch(`${server.baseUrl}/fhir/${path}`, { headers: { Authorization: `Bearer ${token}` } })).json() as Promise<Json>;
    const bundle = await get(`ImagingStudy?identifier=urn:dicom:uid|urn:oid:${instance.attributes.StudyInstanceUID}`);
    assert.equal(bundle.entry.length, 1);
    const study = bundle.entry[0].resource;
    assert.equal(study.numberOfInstances, 4);
    const patient = await get(study.subject.reference);
    assert.ok(patient.identifier.some((identifier: Json) => identifier.value === 'D1-000001'));
    const byPatient = await get(`ImagingStudy?patient=${study.subject.reference}`);
    assert.equal(byPatient.entry.length, 4, 'the four dental studies of the patient');
  });
});
