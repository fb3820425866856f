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
import type { BlobStore } from '../src/blob/index.ts';
import { startTestApp, tenantWithToken, type TestApp } from './support/app.ts';
import { ownerQuery } from './support/database.ts';
import { modifiedCopy } from './support/dicomweb.ts';
import { dentalPatient, fhirApi } from './support/fhir.ts';

const SAMPLES = path.join(import.meta.dirname, '../../shared/dicom-samples');
const PATIENT = path.join(SAMPLES, 'synthetic/basic/D1-000001');
const IO = path.join(PATIENT, '01-io');
const MR = path.join(SAMPLES, 'pydicom/MR_small.dcm');
const CT_SMALL = path.join(SAMPLES, 'pydicom/CT_small.dcm');
const dicomFiles = (directory: string) => fs.readdirSync(directory).filter((name) => name.endsWith('.dcm')).sort().map((name) => path.join(directory, name));

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
  const storeEvents = () => rows('audit_events', { event_type: 'DICOM_STORE', outcome: 'SUCCESS' });
  const blobKeys = async (ofTenant = tenantId) => {
    const keys: string[] = [];
    for await (const { key } of app.services.blobs.list(`dicom/${ofTenant}/`)) keys.push(key);
    return keys.sort();
  };

  before(async () => {
    app = await startTestApp();
    ({ tenantId, token } = await tenantWithToken(app, ['system/*.*']));
    ingest = new InstanceIngest(app.services.db, app.services.blobs);
    caller = { tenantId, audit: { actorType: 'API_CLIENT' } };
  });
  after(async () => {
    await app.close();
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  it('stores a bitewing set: bytes identical, rows indexed, teeth, one patient created from imaging', async () => {
    const files = dicomFiles(IO);
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
    const blobsBefore = await blobKeys();
    const sameBytes = await store(MR);
    assert.ok(sameBytes.stored && sameBytes.alreadyStored);
    const otherBytes = await store(alteredCopy(MR, 'TOSHIBA', 'HITACHI'));
    assert.equal(otherBytes.stored, false);
    assert.equal(!otherBytes.stored && otherBytes.reason, FailureReason.DuplicateSOPInstance);

    const otherPatient = await store(alteredCopy(MR, '4MR1', '9XZ7'));
    assert.equal(otherPatient.stored, false);
    assert.equal(!otherPatient.stored && otherPatient.reason, FailureReason.ProcessingFailure);
    // A new instance of the stored series, of another patient: nothing decides it before the insert.
    const newInstanceOfOtherPatient = await store(modifiedCopy(MR, 'other-patient-new-instance.dcm',
      '-m', '(0010,0020)=9XZ7', '-m', '(0008,0018)=1.2.826.0.1.3680043.2.1143.424242'));
    assert.equal(newInstanceOfOtherPatient.stored, false);
    assert.equal(!newInstanceOfOtherPatient.stored && newInstanceOfOtherPatient.reason, FailureReason.ProcessingFailure);
    assert.equal((await rows('imaging_objects')).length, before);
    assert.deepEqual((await rows('patient_identifiers', { value: '9XZ7' })), [], 'the refused instance left no patient behind');
    assert.deepEqual(await blobKeys(), blobsBefore, 'the blobs written while the refused and the already stored instances were registered are gone');
  });

  it('stores an instance whose InstanceNumber is beyond the range of IS, without indexing that number', async () => {
    const file = modifiedCopy(MR, 'instance-number-out-of-range.dcm', '-m', '(0020,0013)=99999999999', '-m', '(0008,0018)=1.2.826.0.1.3680043.2.1143.99999999999');
    const result = await store(file);
    assert.ok(result.stored && !result.alreadyStored, JSON.stringify(result));
    const [object] = await rows('imaging_objects', { id: result.objectId });
    assert.equal(object!.instance_number, null);
    assert.deepEqual(object!.dicom_json['00200013'], { vr: 'IS', Value: [99999999999] }, 'the value itself is kept in the metadata');
  });

  it('registers instances stored at the same time in one transaction, and makes one ImagingStudy version per completing transaction', async () => {
    const files = dicomFiles(path.join(PATIENT, '03-ct'));
    const instances = await Promise.all(files.map((file) => parseInstanceFile(file)));
    const results = await Promise.all(files.map((file, index) => ingest.store(caller, instances[index]!, fileOf(file))));
    assert.ok(results.every((result) => result.stored && !result.alreadyStored), JSON.stringify(results));

    const [study] = await ownerQuery(`select count(distinct o.created_at)::int as registrations, count(distinct o.version_txid)::int as completions,
        (select count(*)::int from resource_versions v where v.tenant_id = s.tenant_id and v.resource_type = 'ImagingStudy' and v.resource_id = s.id) as versions,
        s.number_of_instances, count(*)::int as objects
      from imaging_objects o join imaging_studies s on s.tenant_id = o.tenant_id and s.id = o.study_id
      where s.tenant_id = $1 and s.study_uid = $2 and o.status = 'CREATED' group by s.tenant_id, s.id`, [tenantId, instances[0]!.attributes.StudyInstanceUID]);
    assert.equal(study!.objects, files.length);
    assert.equal(study!.number_of_instances, files.length);
    assert.equal(study!.registrations, 1, 'one registering transaction');
    assert.ok(study!.completions >= 1 && study!.completions <= files.length);
    assert.equal(study!.versions, 1 + study!.completions, 'the study as registered, then a version per completing transaction');
    const audited = await storeEvents();
    for (const [index, instance] of instances.entries()) {
      const result = results[index]!;
      assert.deepEqual(audited.filter((event) => event.metadata.sopInstanceUid === instance.attributes.SOPInstanceUID).map((event) => event.metadata.objectId),
        [result.stored && result.objectId], 'each stored instance audited once, as it completed');
    }
  });

  it('fails an instance deleted while its bytes were written: nothing stored, its blob removed, no store audited', async () => {
    const [photo] = dicomFiles(path.join(PATIENT, '04-xc'));
    const instance = await parseInstanceFile(photo!);
    let written!: () => void;
    const writing = new Promise<void>((resolve) => { written = resolve; });
    const slow: BlobStore = Object.assign(Object.create(app.services.blobs), {
      putFile: async (...args: Parameters<BlobStore['putFile']>) => {
        await app.services.blobs.putFile(...args);
        await writing;
      },
    });
    const storing = new InstanceIngest(app.services.db, slow).store(caller, instance, fileOf(photo!));
    for (let tries = 0; (await rows('imaging_objects', { sop_instance_uid: instance.attributes.SOPInstanceUID })).length === 0; tries++) {
      assert.ok(tries < 100, 'registered while its bytes are written');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await ownerQuery('delete from imaging_objects where tenant_id = $1 and sop_instance_uid = $2', [tenantId, instance.attributes.SOPInstanceUID]);
    const blobsBefore = await blobKeys();
    written();
    const result = await storing;
    assert.ok(!result.stored && result.reason === FailureReason.ProcessingFailure, JSON.stringify(result));
    assert.equal((await blobKeys()).length, blobsBefore.length - 1, 'its blob is removed');
    assert.deepEqual((await storeEvents()).filter((event) => event.metadata.sopInstanceUid === instance.attributes.SOPInstanceUID), []);
  });

  it('fails an instance that fails unexpectedly alone: the instances stored with it are stored', async () => {
    const [panoramic] = dicomFiles(path.join(PATIENT, '02-px'));
    const [photo] = dicomFiles(path.join(PATIENT, '04-xc'));
    const [broken, good] = [await parseInstanceFile(panoramic!), await parseInstanceFile(photo!)];
    // A failure no check foresees: the database refuses the row of one instance.
    await ownerQuery(`create function test_refuse_object() returns trigger language plpgsql as $$
      begin raise exception 'refused for the test'; end $$`);
    await ownerQuery(`create trigger test_refuse_object before insert on imaging_objects for each row
      when (new.sop_instance_uid = '${broken.attributes.SOPInstanceUID}') execute function test_refuse_object()`);
    try {
      // Submitted in one tick: registered in one batch, which fails.
      const [brokenResult, photoResult] = await Promise.allSettled([
        ingest.store(caller, broken, fileOf(panoramic!)),
        ingest.store(caller, good, fileOf(photo!)),
      ]);
      assert.ok(brokenResult.status === 'rejected' && /refused for the test/.test(String(brokenResult.reason)), String(brokenResult));
      assert.ok(photoResult.status === 'fulfilled' && photoResult.value.stored && !photoResult.value.alreadyStored, JSON.stringify(photoResult));
    } finally {
      await ownerQuery('drop trigger test_refuse_object on imaging_objects');
      await ownerQuery('drop function test_refuse_object()');
    }
    assert.deepEqual(await rows('imaging_objects', { sop_instance_uid: broken.attributes.SOPInstanceUID }), []);
    assert.deepEqual(await rows('imaging_studies', { study_uid: broken.attributes.StudyInstanceUID }), [], 'nothing of the failed instance is left');
  });

  describe('from two server processes at the same time', () => {
    // Two ingests, each with its own group commit and connections: what two processes do.
    let processes: InstanceIngest[];
    let another: IngestCaller;
    const tenantRows = (table: string, where: Record<string, unknown> = {}) =>
      app.services.db.tenant(another.tenantId, (trx) => trx(table).where(where)) as Promise<Record<string, any>[]>;
    beforeEach(async () => {
      processes = [0, 1].map(() => new InstanceIngest(app.services.db, app.services.blobs));
      another = { tenantId: (await tenantWithToken(app, ['system/*.*'])).tenantId, audit: caller.audit };
    });

    it('stores the instances of one new series, sent to one process and the other in turns: its study, series and patient made once', async () => {
      const files = dicomFiles(path.join(PATIENT, '03-ct'));
      const instances = await Promise.all(files.map((file) => parseInstanceFile(file)));
      for (let index = 0; index < files.length; index += 2) {
        // One instance each, at once: batches of one, racing to create the same rows.
        const pair = [index, index + 1].filter((at) => at < files.length);
        const results = await Promise.all(pair.map((at) => processes[at % 2]!.store(another, instances[at]!, fileOf(files[at]!))));
        assert.ok(results.every((result) => result.stored && !result.alreadyStored), JSON.stringify(results));
      }
      const [study, ...otherStudies] = await tenantRows('imaging_studies');
      assert.equal(otherStudies.length, 0);
      assert.equal(study!.number_of_instances, files.length);
      assert.equal((await tenantRows('imaging_series')).length, 1);
      assert.equal((await tenantRows('imaging_objects', { status: 'CREATED' })).length, files.length);
      assert.equal((await tenantRows('patients')).length, 1);
    });

    it('stores one instance sent to both at once: one object, one blob, and each answer a success or a failure to retry', async () => {
      const instance = await parseInstanceFile(CT_SMALL);
      const results = await Promise.all(processes.map((process) => process.store(another, instance, fileOf(CT_SMALL))));
      assert.ok(results.some((result) => result.stored), JSON.stringify(results));
      for (const result of results) assert.ok(result.stored || result.reason === FailureReason.ProcessingFailure, JSON.stringify(result));
      const objects = await tenantRows('imaging_objects');
      assert.deepEqual(objects.map((object) => object.status), ['CREATED']);
      assert.deepEqual(await blobKeys(another.tenantId), [objects[0]!.storage_uri], 'the blob of the answer that lost is removed');
      assert.deepEqual(await processes[0]!.store(another, instance, fileOf(CT_SMALL)), { stored: true, objectId: objects[0]!.id, alreadyStored: true });
    });
  });

  it('takes over an instance that a crash left CREATING, and removes the blob it named', async () => {
    // A bitewing of another tenant (the first test stored this tenant's): one with teeth.
    const { tenantId: otherTenant } = await tenantWithToken(app, ['system/ImagingStudy.*']);
    const withTeeth = dicomFiles(IO)[0]!;
    const toothed = await parseInstanceFile(withTeeth);
    assert.ok(toothed.teeth.length > 0);
    const abandoning: BlobStore = Object.assign(Object.create(app.services.blobs), { putFile: async () => { throw new Error('no space left on device'); } });
    const otherCaller = { ...caller, tenantId: otherTenant };
    await assert.rejects(new InstanceIngest(app.services.db, abandoning).store(otherCaller, toothed, fileOf(withTeeth)), /no space left/);
    const takenOver = await ingest.store(otherCaller, toothed, fileOf(withTeeth));
    assert.ok(takenOver.stored && !takenOver.alreadyStored, JSON.stringify(takenOver));
    const teethAfter = await ownerQuery('select tooth_code from imaging_object_teeth where tenant_id = $1 and object_id = $2 order by tooth_code', [otherTenant, takenOver.objectId]);
    assert.deepEqual(teethAfter.map((tooth) => tooth.tooth_code), toothed.teeth.map((tooth) => tooth.CodeValue).sort(), 'the teeth of the instance, once each');

    const instance = await parseInstanceFile(CT_SMALL);
    const full: BlobStore = Object.assign(Object.create(app.services.blobs), { putFile: async () => { throw new Error('no space left on device'); } });
    await assert.rejects(new InstanceIngest(app.services.db, full).store(caller, instance, fileOf(CT_SMALL)), /no space left/);
    const [left] = await rows('imaging_objects', { sop_instance_uid: instance.attributes.SOPInstanceUID });
    assert.equal(left!.status, 'CREATING');
    const abandonedKey = left!.storage_uri as string;
    await app.services.blobs.put(abandonedKey, Buffer.from('what a crash after the write left'));

    const result = await ingest.store(caller, instance, fileOf(CT_SMALL));
    assert.deepEqual(result, { stored: true, objectId: left!.id, alreadyStored: false });
    const [stored] = await rows('imaging_objects', { id: left!.id });
    assert.equal(stored!.status, 'CREATED');
    assert.notEqual(stored!.storage_uri, abandonedKey);
    const chunks: Buffer[] = [];
    for await (const chunk of await app.services.blobs.get(stored!.storage_uri)) chunks.push(chunk as Buffer);
    assert.ok(Buffer.concat(chunks).equals(fs.readFileSync(CT_SMALL)));
    assert.equal(await app.services.blobs.head(abandonedKey), undefined, 'the abandoned blob is removed');
  });
});
