import assert from 'node:assert/strict';
import { startTestApp, tenantWithToken, type TestApp } from './support/app.ts';
import { dentalPatient } from './support/fhir.ts';

describe('conditional interactions and PATCH (http.html)', () => {
  let app: TestApp;
  let token: string;
  let tenantId: string;

  before(async () => {
    app = await startTestApp({ databasePoolSize: 10 });
    ({ token, tenantId } = await tenantWithToken(app, ['system/*.*']));
  });
  after(() => app.close());

  const withMrn = (mrn: string, extra = {}) => dentalPatient({ identifier: [{ system: 'urn:oid:1.2.3.4', value: mrn }], ...extra });
  const post = (body: unknown, ifNoneExist?: string) => {
    const req = app.request.post('/fhir/Patient').auth(token, { type: 'bearer' }).type('application/fhir+json');
    if (ifNoneExist) req.set('If-None-Exist', ifNoneExist);
    return req.send(JSON.stringify(body));
  };
  const countWithMrn = async (mrn: string) => (await app.request.get(`/fhir/Patient?identifier=urn:oid:1.2.3.4|${mrn}&_total=accurate`)
    .auth(token, { type: 'bearer' }).expect(200)).body.total as number;

  describe('conditional create (If-None-Exist)', () => {
    it('with no match creates (201); with one match returns it (200) and creates nothing', async () => {
      const first = await post(withMrn('C-1'), 'identifier=urn:oid:1.2.3.4|C-1').expect(201);
      const second = await post(withMrn('C-1'), 'identifier=urn:oid:1.2.3.4|C-1').expect(200);
      assert.equal(second.body.id, first.body.id);
      assert.equal(await countWithMrn('C-1'), 1);
    });

    it('with several matches is 412', async () => {
      // Identifiers are unique per tenant, so two patients share a name and birth date instead.
      const twin = (mrn: string) => withMrn(mrn, { name: [{ family: 'Adeyemi', given: ['Tobi'] }], birthDate: '1999-09-09' });
      await post(twin('C-2a')).expect(201);
      await post(twin('C-2b')).expect(201);
      await post(twin('C-2c'), 'family=Adeyemi&birthdate=1999-09-09').expect(412);
    });

    it('a second create of the same identifier is refused by the database too (409)', async () => {
      await post(withMrn('C-4')).expect(201);
      const res = await post(withMrn('C-4')).expect(409);
      assert.equal(res.body.issue[0].code, 'duplicate');
    });

    it('20 concurrent identical requests create exactly one resource', async () => {
      const results = await Promise.all(Array.from({ length: 20 }, () => post(withMrn('RACE-1'), 'identifier=urn:oid:1.2.3.4|RACE-1')));
      assert.deepEqual(results.map((r) => r.status).sort(), [200, ...Array(19).fill(200)].map((s, i) => (i === 0 ? 201 : s)).sort());
      assert.equal(new Set(results.map((r) => r.body.id)).size, 1);
      assert.equal(await countWithMrn('RACE-1'), 1);
    });

    it('an unknown parameter in the condition is 400, not a match on everything', async () => {
      await post(withMrn('C-3'), 'identifer=urn:oid:1.2.3.4|C-3').expect(400);
      assert.equal(await countWithMrn('C-3'), 0);
    });
  });

  describe('conditional update (PUT [type]?search)', () => {
    const put = (query: string, body: unknown) => app.request.put(`/fhir/Patient?${query}`).auth(token, { type: 'bearer' }).type('application/fhir+json').send(JSON.stringify(body));

    it('no match creates; one match updates it; several are 412', async () => {
      const created = await put('identifier=urn:oid:1.2.3.4|U-1', withMrn('U-1')).expect(201);
      const updated = await put('identifier=urn:oid:1.2.3.4|U-1', withMrn('U-1', { birthDate: '1990-02-02' })).expect(200);
      assert.equal(updated.body.id, created.body.id);
      assert.equal(updated.body.meta.versionId, '2');
      const twin = (mrn: string) => withMrn(mrn, { name: [{ family: 'Haddad', given: ['Rania'] }], birthDate: '1980-10-10' });
      await post(twin('U-2a')).expect(201);
      await post(twin('U-2b')).expect(201);
      await put('family=Haddad&birthdate=1980-10-10', twin('U-2c')).expect(412);
    });

    it('a body id that is not the match is 400', async () => {
      await put('identifier=urn:oid:1.2.3.4|U-1', { ...withMrn('U-1'), id: '0b7f7b8e-1111-4111-8111-111111111111' }).expect(400);
    });
  });

  describe('conditional delete (DELETE [type]?search)', () => {
    it('deletes the single match; several are 412', async () => {
      const created = await post(withMrn('D-1')).expect(201);
      await app.request.delete('/fhir/Patient?identifier=urn:oid:1.2.3.4|D-1').auth(token, { type: 'bearer' }).expect(204);
      await app.request.get(`/fhir/Patient/${created.body.id}`).auth(token, { type: 'bearer' }).expect(410);
      const twin = (mrn: string) => withMrn(mrn, { name: [{ family: 'Kowalczyk', given: ['Ola'] }], birthDate: '1970-07-07' });
      await post(twin('D-2a')).expect(201);
      await post(twin('D-2b')).expect(201);
      await app.request.delete('/fhir/Patient?family=Kowalczyk&birthdate=1970-07-07').auth(token, { type: 'bearer' }).expect(412);
      assert.equal(await countWithMrn('D-2a') + await countWithMrn('D-2b'), 2);
    });
  });

  describe('PATCH with JSON Patch', () => {
    const patch = (id: string, operations: unknown, ifMatch?: string) => {
      const req = app.request.patch(`/fhir/Patient/${id}`).auth(token, { type: 'bearer' }).type('application/json-patch+json');
      if (ifMatch) req.set('If-Match', ifMatch);
      return req.send(JSON.stringify(operations));
    };

    it('applies the operations to the current version and makes a new one', async () => {
      const created = (await post(withMrn('P-1')).expect(201)).body;
      const res = await patch(created.id, [
        { op: 'replace', path: '/birthDate', value: '1988-01-09' },
        { op: 'add', path: '/telecom/-', value: { system: 'phone', value: '+1 415 555 0199', use: 'home' } },
        { op: 'remove', path: '/maritalStatus' },
      ], 'W/"1"').expect(200);
      assert.equal(res.body.meta.versionId, '2');
      assert.equal(res.body.birthDate, '1988-01-09');
      assert.equal(res.body.telecom.length, 3);
      assert.equal(res.body.maritalStatus, undefined);
    });

    it('a failed test operation is 422 and a stale If-Match 412; nothing changes', async () => {
      const created = (await post(withMrn('P-2')).expect(201)).body;
      await patch(created.id, [{ op: 'test', path: '/gender', value: 'male' }, { op: 'replace', path: '/gender', value: 'other' }]).expect(422);
      await patch(created.id, [{ op: 'replace', path: '/gender', value: 'other' }], 'W/"9"').expect(412);
      await patch(created.id, [{ op: 'replace', path: '/gender', value: 'not-a-gender' }]).expect(400);
      await patch(created.id, { op: 'replace' }).expect(400);
      const current = (await app.request.get(`/fhir/Patient/${created.id}`).auth(token, { type: 'bearer' }).expect(200)).body;
      assert.equal(current.meta.versionId, '1');
      assert.equal(current.gender, 'female');
    });

    it('a FHIR JSON body is 415: only JSON Patch is supported', async () => {
      const created = (await post(withMrn('P-3')).expect(201)).body;
      await app.request.patch(`/fhir/Patient/${created.id}`).auth(token, { type: 'bearer' }).type('application/fhir+json').send('{}').expect(415);
    });
  });

  describe('audit', () => it('every successful write above was audited with its resource id', async () => {
    const events = await app.services.db.tenant(tenantId, (trx) => trx('audit_events').where({ outcome: 'SUCCESS' }).whereIn('event_type', ['FHIR_CREATE', 'FHIR_UPDATE', 'FHIR_PATCH', 'FHIR_DELETE']));
    assert.ok(events.length > 10);
    assert.ok(events.every((e) => e.resource_id));
  }));
});
