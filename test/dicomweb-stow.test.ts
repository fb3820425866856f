// STOW-RS (PS3.18 10.5) through HTTP: the dental sample studies and the pydicom files stored with
// dicomweb-client against a listening server and with hand-made bodies through supertest; the Store
// Instances Response (RetrieveURL, ReferencedSOPSequence, FailedSOPSequence with FailureReason),
// 200/202/409/400/415/406, bad input leaving nothing stored, CORS and scopes.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import path from 'node:path';
import { createApp } from '../src/app.ts';
import { FailureReason, parseInstanceFile } from '../src/dicom/index.ts';
import { PUBLIC_BASE_URL, startTestApp, tenantWithToken, type TestApp } from './support/app.ts';
import {
  dicomFilesIn, dicomwebClient, modifiedCopy, multipartRelated, pydicomFile, spooledFile, stowContentType, syntheticStudy, PYDICOM, SYNTHETIC_PATIENT,
} from './support/dicomweb.ts';
import { listeningTenantWithToken, startListeningApp, type ListeningApp } from './support/listening.ts';

type Json = Record<string, any>;

const TAG = {
  RetrieveURL: '00081190', FailedSOPSequence: '00081198', ReferencedSOPSequence: '00081199', FailureReason: '00081197',
  ReferencedSOPClassUID: '00081150', ReferencedSOPInstanceUID: '00081155',
};

const referenced = (response: Json) => (response[TAG.ReferencedSOPSequence]?.Value ?? []) as Json[];
const failures = (response: Json) => (response[TAG.FailedSOPSequence]?.Value ?? []) as Json[];
const uidOf = (item: Json) => item[TAG.ReferencedSOPInstanceUID]?.Value?.[0] as string | undefined;
const reasonOf = (item: Json) => item[TAG.FailureReason].Value[0] as number;

describe('STOW-RS', function () {
  this.timeout(120_000);
  let app: TestApp;
  let tenantId: string;
  let token: string;

  const count = async (table: string, tenant = tenantId) => Number((await app.services.db.tenant(tenant, (trx) => trx(table).count({ n: '*' })))[0]!.n);
  const stow = (body: Buffer, url = '/dicomweb/studies', contentType = stowContentType()) =>
    app.request.post(url).set('Authorization', `Bearer ${token}`).set('Content-Type', contentType).send(body);
  const nothingMoreStored = async (before: { objects: number; studies: number; patients: number }) => {
    assert.equal(await count('imaging_objects'), before.objects, 'no object row is added');
    assert.equal(await count('imaging_studies'), before.studies, 'no study row is added');
    assert.equal(await count('patients'), before.patients, 'no patient is added');
  };
  const snapshot = async () => ({ objects: await count('imaging_objects'), studies: await count('imaging_studies'), patients: await count('patients') });

  before(async () => {
    app = await startTestApp();
    ({ tenantId, token } = await tenantWithToken(app, ['system/ImagingStudy.*', 'system/Patient.read']));
  });
  after(() => app.close());

  describe('with dicomweb-client against a listening server', () => {
    let server: ListeningApp;
    let serverToken: string;
    before(async () => {
      server = await startListeningApp();
      ({ token: serverToken } = await listeningTenantWithToken(server, ['system/ImagingStudy.*']));
    });
    after(() => server.close());

    it('stores each dental study (intraoral, panoramic, CBCT, photo) and answers the Store Instances Response', async () => {
      const client = await dicomwebClient(server.baseUrl, serverToken);
      for (const kind of ['01-io', '02-px', '03-ct', '04-xc'] as const) {
        const files = syntheticStudy(kind);
        const instances = await Promise.all(files.map((file) => parseInstanceFile(file)));
        const studyUid = instances[0]!.attributes.StudyInstanceUID;
        const answer = JSON.parse(await client.storeInstances({ datasets: files.map((file) => new Uint8Array(fs.readFileSync(file)).buffer) }) as string) as Json;
        assert.deepEqual(answer[TAG.RetrieveURL], { vr: 'UR', Value: [`${server.baseUrl}/dicomweb/studies/${studyUid}`] });
        assert.equal(answer[TAG.FailedSOPSequence], undefined);
        const items = referenced(answer);
        assert.deepEqual(items.map(uidOf).sort(), instances.map((instance) => instance.attributes.SOPInstanceUID).sort());
        for (const item of items) {
          const instance = instances.find((candidate) => candidate.attributes.SOPInstanceUID === uidOf(item))!;
          assert.deepEqual(item[TAG.ReferencedSOPClassUID], { vr: 'UI', Value: [instance.attributes.SOPClassUID] });
          assert.equal(item[TAG.RetrieveURL].Value[0],
            `${server.baseUrl}/dicomweb/studies/${studyUid}/series/${instance.attributes.SeriesInstanceUID}/instances/${instance.attributes.SOPInstanceUID}`);
        }
      }
    });
  });

  it('stores bytes identical to the files sent, in one patient linked by PatientID', async () => {
    const files = dicomFilesIn(SYNTHETIC_PATIENT);
    const response = await stow(multipartRelated(files.map((file) => ({ bytes: fs.readFileSync(file) }))));
    assert.equal(response.status, 200, response.text);
    assert.match(response.get('content-type')!, /^application\/dicom\+json/);
    assert.equal(referenced(response.body).length, files.length);
    assert.equal(response.body[TAG.RetrieveURL], undefined, 'no study RetrieveURL when the instances are of several studies');
    assert.ok(referenced(response.body).every((item) => item[TAG.RetrieveURL].Value[0].startsWith(`${PUBLIC_BASE_URL}/dicomweb/studies/`)));

    const objects = await app.services.db.tenant(tenantId, (trx) => trx('imaging_objects').select('hash', 'storage_uri', 'status')) as Json[];
    assert.equal(objects.length, files.length);
    for (const file of files) {
      const object = objects.find((candidate) => candidate.hash === spooledFile(file).sha256);
      assert.ok(object, `${path.basename(file)} is stored`);
      assert.equal(object.status, 'CREATED');
      const chunks: Buffer[] = [];
      for await (const chunk of await app.services.blobs.get(object.storage_uri)) chunks.push(chunk as Buffer);
      assert.ok(Buffer.concat(chunks).equals(fs.readFileSync(file)), `${path.basename(file)} is stored byte for byte`);
    }
    const patients = await app.services.db.tenant(tenantId, (trx) => trx('patients').select('id', 'created_from')) as Json[];
    assert.deepEqual(patients.map((patient) => patient.created_from), ['IMAGING']);
    const patient = await app.request.get('/fhir/Patient?identifier=D1-000001').set('Authorization', `Bearer ${token}`);
    assert.equal(patient.body.total ?? patient.body.entry?.length, 1);
  });

  it('stores the same bytes again as a success and refuses other bytes under a stored SOP Instance UID (0x0111)', async () => {
    const mr = pydicomFile('MR_small.dcm');
    const first = await stow(multipartRelated([{ bytes: fs.readFileSync(mr) }]));
    assert.equal(first.status, 200, first.text);
    const before = await snapshot();
    const again = await stow(multipartRelated([{ bytes: fs.readFileSync(mr) }]));
    assert.equal(again.status, 200);
    assert.equal(referenced(again.body).length, 1);

    const otherSyntax = await stow(multipartRelated([{ bytes: fs.readFileSync(pydicomFile('MR_small_implicit.dcm')) }]));
    assert.equal(otherSyntax.status, 409, 'every instance failed');
    assert.equal(reasonOf(failures(otherSyntax.body)[0]!), FailureReason.DuplicateSOPInstance);
    assert.equal(uidOf(failures(otherSyntax.body)[0]!), (await parseInstanceFile(mr)).attributes.SOPInstanceUID);
    assert.match(otherSyntax.get('warning')!, /^299 cusp ".*already stored/);
    await nothingMoreStored(before);
  });

  it('answers 202 with both sequences when some instances of a body fail', async () => {
    const files = fs.readdirSync(PYDICOM).filter((name) => name.endsWith('.dcm')).map((name) => path.join(PYDICOM, name));
    const response = await stow(multipartRelated(files.map((file) => ({ bytes: fs.readFileSync(file) }))));
    assert.equal(response.status, 202, response.text);
    // The corpus holds 13 distinct SOP instances; the other files repeat one of them in another
    // encoding: each instance is stored once (or was already), each repetition refused as a duplicate.
    const distinct = new Set(await Promise.all(files.map(async (file) => (await parseInstanceFile(file)).attributes.SOPInstanceUID)));
    assert.equal(distinct.size, 13);
    assert.deepEqual(new Set(referenced(response.body).map(uidOf)), distinct);
    assert.equal(referenced(response.body).length + failures(response.body).length, files.length);
    for (const failure of failures(response.body)) {
      assert.equal(reasonOf(failure), FailureReason.DuplicateSOPInstance, JSON.stringify(failure));
    }
  });

  it('refuses, with a study in the URL, an instance of another study (0xA900)', async () => {
    const before = await snapshot();
    const file = pydicomFile('CT_small.dcm');
    const response = await stow(multipartRelated([{ bytes: fs.readFileSync(file) }]), '/dicomweb/studies/1.2.3.4');
    assert.equal(response.status, 409);
    const [failure] = failures(response.body);
    assert.equal(reasonOf(failure!), FailureReason.DataSetDoesNotMatchSOPClass);
    assert.equal(uidOf(failure!), (await parseInstanceFile(file)).attributes.SOPInstanceUID);
    await nothingMoreStored(before);
    const right = await stow(multipartRelated([{ bytes: fs.readFileSync(file) }]), `/dicomweb/studies/${(await parseInstanceFile(file)).attributes.StudyInstanceUID}`);
    assert.equal(right.status, 200, right.text);
    assert.equal(right.body[TAG.RetrieveURL].Value[0], `${PUBLIC_BASE_URL}/dicomweb/studies/${(await parseInstanceFile(file)).attributes.StudyInstanceUID}`);
  });

  describe('bad input gets its status and failure reason and leaves nothing stored', () => {
    const good = () => fs.readFileSync(pydicomFile('rtdose.dcm'));

    it('a part that is not DICOM, a truncated file and an instance without SOPInstanceUID fail in one 409', async () => {
      const before = await snapshot();
      const truncated = good().subarray(0, Math.floor(good().length / 2));
      const withoutSop = fs.readFileSync(modifiedCopy(pydicomFile('rtdose.dcm'), 'no-sop.dcm', '-ea', '(0008,0018)'));
      const response = await stow(multipartRelated([
        { bytes: Buffer.from('this is not a DICOM file'), contentType: 'application/dicom' },
        { bytes: truncated },
        { bytes: withoutSop },
        { bytes: Buffer.from('{}'), contentType: 'application/dicom+json' },
      ]));
      assert.equal(response.status, 409, response.text);
      assert.deepEqual(failures(response.body).map(reasonOf), [
        FailureReason.CannotUnderstand, FailureReason.CannotUnderstand, FailureReason.DataSetDoesNotMatchSOPClass, FailureReason.CannotUnderstand,
      ]);
      assert.equal(response.get('warning')!.split(/,\s*(?=299)/).length, 4, 'one Warning per failure');
      await nothingMoreStored(before);
      const audited = await app.services.db.tenant(tenantId, (trx) => trx('audit_events').where({ event_type: 'DICOM_STORE', outcome: 'FAILURE' }).count({ n: '*' }));
      assert.ok(Number(audited[0]!.n) >= 4, 'refused instances are audited');
    });

    it('a wrong content type is 415, a missing boundary 400, an empty body 400', async () => {
      const before = await snapshot();
      const single = await app.request.post('/dicomweb/studies').set('Authorization', `Bearer ${token}`).set('Content-Type', 'application/dicom').send(good());
      assert.equal(single.status, 415);
      const xml = await stow(multipartRelated([{ bytes: good() }]), '/dicomweb/studies', 'multipart/related; type="application/dicom+xml"; boundary=cusp-test-boundary');
      assert.equal(xml.status, 415);
      const noBoundary = await stow(multipartRelated([{ bytes: good() }]), '/dicomweb/studies', 'multipart/related; type="application/dicom"');
      assert.equal(noBoundary.status, 400);
      assert.match(noBoundary.body.issue[0].diagnostics, /boundary/);
      const wrongBoundary = await stow(multipartRelated([{ bytes: good() }], 'one'), '/dicomweb/studies', stowContentType('another'));
      assert.equal(wrongBoundary.status, 400);
      await nothingMoreStored(before);
    });

    it('a multipart body that breaks off keeps the instances completed before the break and says so (202)', async () => {
      const fresh = modifiedCopy(pydicomFile('liver_1frame.dcm'), 'liver-new-uid.dcm', '-gin');
      const complete = fs.readFileSync(fresh);
      const whole = multipartRelated([{ bytes: complete }, { bytes: good() }]);
      const cut = whole.subarray(0, whole.length - Math.floor(good().length / 2));
      const before = await snapshot();
      const response = await stow(cut);
      assert.equal(response.status, 202, response.text);
      assert.equal(referenced(response.body).length, 1);
      assert.equal(uidOf(referenced(response.body)[0]!), (await parseInstanceFile(fresh)).attributes.SOPInstanceUID);
      assert.deepEqual(failures(response.body).map(reasonOf), [FailureReason.CannotUnderstand]);
      assert.match(response.get('warning')!, /rest of the body/);
      assert.equal(await count('imaging_objects'), before.objects + 1, 'only the complete instance is stored');
    });

    it('a body that ends before its Content-Length stores nothing', async () => {
      const before = await snapshot();
      const server = http.createServer(createApp(app.services));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        const { port } = server.address() as net.AddressInfo;
        const body = multipartRelated([{ bytes: good() }]);
        const socket = net.connect(port, '127.0.0.1');
        await once(socket, 'connect');
        socket.on('error', () => {});
        socket.write([
          'POST /dicomweb/studies HTTP/1.1', 'Host: localhost', `Authorization: Bearer ${token}`, `Content-Type: ${stowContentType()}`,
          `Content-Length: ${body.length + 1000}`, '', '',
        ].join('\r\n'));
        socket.write(body);
        socket.end();
        let answer = '';
        for await (const chunk of socket) answer += String(chunk);
        assert.match(answer, /^HTTP\/1\.1 400 /);
      } finally {
        server.close();
      }
      await nothingMoreStored(before);
    });

    it('accepts a chunked body with a quoted boundary and an unquoted type', async () => {
      const server = http.createServer(createApp(app.services));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        const { port } = server.address() as net.AddressInfo;
        const body = multipartRelated([{ bytes: good() }], 'a:b=c');
        const answer = await new Promise<{ status: number; text: string }>((resolve, reject) => {
          const request = http.request({
            host: '127.0.0.1', port, method: 'POST', path: '/dicomweb/studies',
            headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'multipart/related; type=application/dicom; boundary="a:b=c"', 'Transfer-Encoding': 'chunked' },
          }, (response) => {
            let text = '';
            response.on('data', (chunk) => (text += chunk));
            response.on('end', () => resolve({ status: response.statusCode!, text }));
          });
          request.on('error', reject);
          for (let offset = 0; offset < body.length; offset += 1000) request.write(body.subarray(offset, offset + 1000));
          request.end();
        });
        assert.equal(answer.status, 200, answer.text);
        assert.equal(referenced(JSON.parse(answer.text)).length, 1);
      } finally {
        server.close();
      }
    });

    it('answers 406 to a client that takes neither DICOM JSON nor XML, 403 to a read-only client, 401 without a token', async () => {
      const before = await snapshot();
      const body = multipartRelated([{ bytes: good() }]);
      const html = await stow(body).set('Accept', 'text/html');
      assert.equal(html.status, 406);
      const { token: readOnly } = await tenantWithToken(app, ['system/ImagingStudy.read']);
      const forbidden = await app.request.post('/dicomweb/studies').set('Authorization', `Bearer ${readOnly}`).set('Content-Type', stowContentType()).send(body);
      assert.equal(forbidden.status, 403);
      const anonymous = await app.request.post('/dicomweb/studies').set('Content-Type', stowContentType()).send(body);
      assert.equal(anonymous.status, 401);
      assert.equal(anonymous.get('access-control-allow-origin'), '*', 'error answers carry CORS headers');
      await nothingMoreStored(before);
    });
  });

  it('answers a CORS preflight without a token', async () => {
    const preflight = await app.request.options('/dicomweb/studies')
      .set('Origin', 'https://viewer.example').set('Access-Control-Request-Method', 'POST')
      .set('Access-Control-Request-Headers', 'authorization, content-type');
    assert.equal(preflight.status, 204);
    assert.equal(preflight.get('access-control-allow-origin'), '*');
    assert.match(preflight.get('access-control-allow-methods')!, /POST/);
    assert.match(preflight.get('access-control-allow-headers')!, /authorization/);
  });

  it('keeps one tenant\'s instances from another', async () => {
    const other = await tenantWithToken(app, ['system/ImagingStudy.*']);
    const file = pydicomFile('MR_small.dcm');
    const response = await app.request.post('/dicomweb/studies').set('Authorization', `Bearer ${other.token}`).set('Content-Type', stowContentType())
      .send(multipartRelated([{ bytes: fs.readFileSync(pydicomFile('MR_small_implicit.dcm')) }]));
    assert.equal(response.status, 200, 'the same SOP Instance UID in another tenant is another instance');
    assert.equal(await count('imaging_objects', other.tenantId), 1);
    const mine = await app.services.db.tenant(tenantId, (trx) => trx('imaging_objects').where({ sop_instance_uid: uidOf(referenced(response.body)[0]!) }).first('hash'));
    assert.equal(mine.hash, spooledFile(file).sha256, 'the first tenant keeps its own bytes');
  });
});
