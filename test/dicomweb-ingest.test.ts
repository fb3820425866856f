// Storing received instances (src/dicomweb/ingest.ts) on real PostgreSQL and the blob store:
// the bytes come back identical, the rows index the instance, the patient is found by PatientID
// or created from imaging, a repeat of the same bytes is a success, and conflicting instances
// are refused with their PS3.7 reason, leaving nothing behind.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FailureReason, parseInstanceFile } from '../src/dicom/index.ts';
import { InstanceIngest, type IngestCaller } from '../src/dicomweb/ingest.ts';
import { startTestApp, tenantWithToken, type TestApp } from './support/app.ts';
import { dentalPatient, fhirApi } from './support/fhir.ts';

const SAMPLES = path.join(import.meta.dirname, '../../shared/dicom-samples');
const IO = path.join(SAMPLES, 'synthetic/basic/D1-000001/01-io');
const MR = path.join(SAMPLES, 'pydicom/MR_small.dcm');

const fileOf = (file: string) => {
  const bytes = fs.readFileSync(file);
  return { path: file, size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
};

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'cusp-ingest-'));

/** A copy of `file` with the value of one string attribute replaced by another of the same length. */
function alteredCopy(file: string, from: string, to: string): string {
  assert.equal(from.length, to.length);
  const bytes = fs.readFileSync(file);
  const at = bytes.indexOf(Buffer.from(from, 'latin1'));
  assert.ok(at > 0, `${from} is in ${file}`);
  bytes.write(to, at, 'latin1');
  const copy = path.join(scratch, `${to}-${path.basename(file)}`);
  fs.writeFileSync(copy, bytes);
  return copy;
}

describe('DICOM ingest', function () {
  this.timeout(60_000);
  let app: TestApp;
  let tenantId: string;
  let token: string;
  let ingest: InstanceIngest;
  let caller: IngestCaller;
  const api = fhirApi(() => ({ app, token }));
  const rows = (table: string, where: Record<string, unknown> = {}) =>
    app.services.db.tenant(tenantId, (trx) => trx(table).where(where)) as Promise<Record<string, any>[]>;
  const store = async (file: string) => ingest.store(caller, await parseInstanceFile(file), fileOf(file));

  before(async () => {
    app = await startTestApp();
    ({ tenantId, token } = await tenantWithToken(app, ['system/*.*']));
    ingest = new InstanceIngest(app.services.db, app.services.blobs, app.services.audit);
    caller = { tenantId, audit: { actorType: 'API_CLIENT' } };
  });
  after(async () => {
    await app.close();
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  it('stores a bitewing set: bytes identical, rows indexed, teeth, one patient created from imaging', async () => {
    const files = fs.readdirSync(IO).filter((name) => name.endsWith('.dcm')).sort().map((name) => path.join(IO, name));
    for (const file of files) {
      const first = await store(file);
      assert.ok(first.stored && !first.alreadyStored, JSON.stringify(first));
      assert.deepEqual(await store(file), { stored: true, objectId: first.objectId, alreadyStored: true });
    }

    const objects = await rows('imaging_objects');
    assert.equal(objects.length, files.length);
    for (const object of objects) {
      assert.equal(object.status, 'CREATED');
      const stored = await app.services.blobs.get(object.storage_uri);
      const chunks: Buffer[] = [];
      for await (const chunk of stored) chunks.push(chunk as Buffer);
      const original = files.find((file) => fileOf(file).sha256 === object.hash);
      assert.ok(original, 'a stored object has the hash of one of the files');
      assert.ok(Buffer.concat(chunks).equals(fs.readFileSync(original)));
      assert.ok(!object.storage_uri.includes(object.sop_instance_uid), 'object keys carry no UID');
    }
    const study = (await rows('imaging_studies'))[0]!;
    assert.equal(study.number_of_instances, files.length);
    assert.equal(study.number_of_series, 1);
    assert.deepEqual(study.modalities_in_study, ['IO']);
    assert.equal(study.modality, 'INTRAORAL');
    const teeth = await rows('imaging_object_teeth');
    assert.ok(teeth.length > 0 && teeth.every((tooth) => tooth.code_system === 'SCT'), JSON.stringify(teeth));

    const patients = await rows('patients');
    assert.equal(patients.length, 1);
    assert.equal(patients[0]!.created_from, 'IMAGING');
    const identifier = (await rows('patient_identifiers'))[0]!;
    assert.deepEqual([identifier.value, identifier.system_uri], ['D1-000001', 'SYNTHDENT']);
    assert.equal(study.patient_id, patients[0]!.id);
  });

  it('links an instance to the patient whose identifier is its PatientID', async () => {
    const patient = await api.created(dentalPatient({ identifier: [{ system: 'urn:oid:1.2.3', value: '4MR1' }] }));
    await store(MR); // MR_small.dcm: PatientID 4MR1, no issuer
    const study = (await rows('imaging_studies', { patient_dicom_id: '4MR1' }))[0]!;
    assert.equal(study.patient_id, patient.id);
  });

  it('refuses other bytes under a stored SOP Instance UID, and an instance of a study that is another patient\'s', async () => {
    const before = (await rows('imaging_objects')).length;
    const otherBytes = await store(alteredCopy(MR, 'TOSHIBA', 'HITACHI'));
    assert.equal(otherBytes.stored, false);
    assert.equal(!otherBytes.stored && otherBytes.reason, FailureReason.DuplicateSOPInstance);

    const otherPatient = await store(alteredCopy(MR, '4MR1', '9XZ7'));
    assert.equal(otherPatient.stored, false);
    assert.equal(!otherPatient.stored && otherPatient.reason, FailureReason.ProcessingFailure);
    assert.equal((await rows('imaging_objects')).length, before);
    assert.deepEqual((await rows('patient_identifiers', { value: '9XZ7' })), [], 'the refused instance left no patient behind');
  });
});
