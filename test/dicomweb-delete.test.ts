// DELETE of instances, series and studies: rows and blobs go, counts of what remains follow, the
// deletion is audited, and a delete that another tenant or a read-only client asks changes nothing.
import assert from 'node:assert/strict';
import { parseInstanceFile } from '../src/dicom/index.ts';
import { BlobNotFoundError } from '../src/blob/errors.ts';
import { startTestApp, tenantWithToken, type TestApp } from './support/app.ts';
import { ownerQuery } from './support/database.ts';
import { storeFiles, syntheticStudy } from './support/dicomweb.ts';

type Row = Record<string, any>;

describe('DICOMweb DELETE', function () {
  this.timeout(60_000);
  let app: TestApp;
  let tenantId: string;
  let token: string;
  const rows = (table: string, where: Row = {}) => app.services.db.tenant(tenantId, (trx) => trx(table).where(where)) as Promise<Row[]>;
  const del = (path: string, bearer = token) => app.request.delete(`/dicomweb${path}`).set('Authorization', `Bearer ${bearer}`);
  const blobExists = async (key: string) => {
    try {
      (await app.services.blobs.get(key)).destroy();
      return true;
    } catch (error) {
      if (error instanceof BlobNotFoundError) return false;
      throw error;
    }
  };

  before(async () => {
    app = await startTestApp();
    ({ tenantId, token } = await tenantWithToken(app, ['system/ImagingStudy.*']));
  });
  after(() => app.close());

  it('deletes an instance, then its series, then its study, keeping the counts of what remains', async () => {
    const ct = syntheticStudy('03-ct');
    const io = syntheticStudy('01-io');
    await storeFiles(app.services, tenantId, [...ct, ...io]);
    const first = (await parseInstanceFile(ct[0]!)).attributes;
    const [study] = await rows('imaging_studies', { study_uid: first.StudyInstanceUID });
    assert.equal(study!.number_of_instances, ct.length);
    const [object] = await rows('imaging_objects', { sop_instance_uid: first.SOPInstanceUID });

    const instance = await del(`/studies/${first.StudyInstanceUID}/series/${first.SeriesInstanceUID}/instances/${first.SOPInstanceUID}`);
    assert.equal(instance.status, 204, instance.text);
    assert.deepEqual(await rows('imaging_objects', { sop_instance_uid: first.SOPInstanceUID }), []);
    assert.equal(await blobExists(object!.storage_uri), false, 'the blob is removed');
    assert.equal((await rows('imaging_studies', { id: study!.id }))[0]!.number_of_instances, ct.length - 1);
    assert.equal((await rows('imaging_series', { series_uid: first.SeriesInstanceUID }))[0]!.number_of_instances, ct.length - 1);
    const again = await del(`/studies/${first.StudyInstanceUID}/series/${first.SeriesInstanceUID}/instances/${first.SOPInstanceUID}`);
    assert.equal(again.status, 404);

    const series = await del(`/studies/${first.StudyInstanceUID}/series/${first.SeriesInstanceUID}`);
    assert.equal(series.status, 204);
    assert.deepEqual(await rows('imaging_series', { series_uid: first.SeriesInstanceUID }), []);
    assert.deepEqual(await rows('imaging_studies', { id: study!.id }), [], 'a study left without instances goes');

    const other = (await parseInstanceFile(io[0]!)).attributes;
    const keys = (await rows('imaging_objects', { study_id: (await rows('imaging_studies', { study_uid: other.StudyInstanceUID }))[0]!.id })).map((row) => row.storage_uri);
    const whole = await del(`/studies/${other.StudyInstanceUID}`);
    assert.equal(whole.status, 204);
    assert.deepEqual(await rows('imaging_studies'), []);
    assert.deepEqual(await rows('imaging_objects'), []);
    for (const key of keys) assert.equal(await blobExists(key), false);
    assert.equal((await rows('patients')).length, 1, 'the patient created from imaging stays');

    const audited = await rows('audit_events', { event_type: 'DICOM_DELETE', outcome: 'SUCCESS' });
    assert.equal(audited.length, 3);
    assert.equal(audited.find((event) => event.metadata.path.endsWith(other.StudyInstanceUID))!.metadata.instances, io.length);

    const restored = await storeFiles(app.services, tenantId, io);
    assert.ok(restored.every((result) => result.stored && !result.alreadyStored), 'a deleted instance can be stored again');
  });

  it('refuses a read-only client (403), another tenant (404), malformed UIDs (400), and what AI predictions refer to (409)', async () => {
    const px = syntheticStudy('02-px');
    await storeFiles(app.services, tenantId, px);
    const { StudyInstanceUID: studyUid, SOPInstanceUID: sopUid } = (await parseInstanceFile(px[0]!)).attributes;
    const { token: readOnly } = await tenantWithToken(app, ['system/ImagingStudy.read']);
    assert.equal((await del(`/studies/${studyUid}`, readOnly)).status, 403);
    const { token: otherTenant } = await tenantWithToken(app, ['system/ImagingStudy.*']);
    assert.equal((await del(`/studies/${studyUid}`, otherTenant)).status, 404);
    assert.equal((await del('/studies/1.2.abc')).status, 400);
    assert.equal((await rows('imaging_objects', { sop_instance_uid: sopUid })).length, 1, 'nothing was deleted');

    const [object] = await rows('imaging_objects', { sop_instance_uid: sopUid });
    const [study] = await rows('imaging_studies', { study_uid: studyUid });
    const [model] = await ownerQuery(`insert into ai_models (name, domain) values ('caries detector', 'CARIES') returning id`);
    const [version] = await ownerQuery('insert into ai_model_versions (model_id, version_tag) values ($1, $2) returning id', [model!.id, '1.0']);
    const [job] = await ownerQuery(`insert into ai_inference_jobs (tenant_id, model_version_id, input_type, input_ref_id) values ($1, $2, 'IMAGING_STUDY', $3) returning id`,
      [tenantId, version!.id, study!.id]);
    await ownerQuery(`insert into ai_predictions (tenant_id, job_id, patient_id, imaging_object_id, prediction_type) values ($1, $2, $3, $4, 'CARIES')`,
      [tenantId, job!.id, study!.patient_id, object!.id]);
    const refused = await del(`/studies/${studyUid}`);
    assert.equal(refused.status, 409, refused.text);
    assert.match(refused.body.issue[0].diagnostics, /ai_predictions/);
    assert.equal((await rows('imaging_objects', { sop_instance_uid: sopUid })).length, 1, 'nothing was deleted');
  });
});
