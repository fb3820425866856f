// The Practitioner and Organization mappings (src/fhir/mappings/practitioner.ts, organization.ts;
// migrations/017): resources over global and tenant-less tables. A practitioner is a user shared
// by the tenants it belongs to; the organisations of the tenancy are seen by their relations and
// not written through FHIR; payers are the tenant's own.
import assert from 'node:assert/strict';
import { ownerQuery } from './support/database.ts';
import { SYSTEM, createClient, memberUser, startTestApp, tenantWithToken, tokenFor, type TestApp } from './support/app.ts';
import { content, dentalPatient, fhirApi, type Json } from './support/fhir.ts';

const NUCC = 'http://nucc.org/provider-taxonomy';
const NPI = 'http://hl7.org/fhir/sid/us-npi';
const ORGANIZATION_TYPE = 'http://terminology.hl7.org/CodeSystem/organization-type';
const TENANT_TYPE = 'https://cusp.dental/fhir/CodeSystem/tenant-type';
const PAYER_TYPE = 'https://cusp.dental/fhir/CodeSystem/payer-type';
const PAYER_ID = 'https://cusp.dental/fhir/sid/payer-id';

let unique = 0;
const json = (value: Json): Json => JSON.parse(JSON.stringify(value));

function dentist(overrides: Json = {}): Json {
  unique += 1;
  return json({
    resourceType: 'Practitioner',
    identifier: [{ system: NPI, value: `17${String(unique).padStart(8, '0')}` }, { system: 'urn:oid:2.16.840.1.113883.4.6.99', value: `CA-DDS-${unique}` }],
    active: true,
    name: [{ use: 'official', family: 'Chen', given: ['Mei'], prefix: ['Dr'] }],
    telecom: [{ system: 'email', value: `mei.chen.${unique}.${Date.now()}@missionstreetdental.example` }, { system: 'phone', value: '+1 415 555 0177', use: 'work' }],
    gender: 'female',
    qualification: [{ code: { coding: [{ system: NUCC, code: '122300000X', display: 'Dentist' }] } }],
    communication: [{ coding: [{ system: 'urn:ietf:bcp:47', code: 'en-US' }] }],
    ...overrides,
  });
}

function payer(overrides: Json = {}): Json {
  unique += 1;
  return json({
    resourceType: 'Organization',
    identifier: [{ system: PAYER_ID, value: `DDPCA${unique}` }],
    active: true,
    type: [{ coding: [{ system: ORGANIZATION_TYPE, code: 'pay', display: 'Payer' }] }, { coding: [{ system: PAYER_TYPE, code: 'commercial' }] }],
    name: `Delta Dental of California ${unique}`,
    telecom: [{ system: 'phone', value: '+1 800 765 6003' }, { system: 'email', value: 'claims@deltadentalca.example' }, { system: 'url', value: 'https://deltadentalca.example' }],
    address: [{ line: ['PO Box 997330'], city: 'Sacramento', state: 'CA', postalCode: '95899', country: 'US' }],
    contact: [{ name: { text: 'Provider Services' } }],
    ...overrides,
  });
}


describe('FHIR Practitioner and Organization', function () {
  this.timeout(60_000);
  let app: TestApp;
  let token: string;
  let tenantId: string;
  const api = fhirApi(() => ({ app, token }));

  before(async () => {
    app = await startTestApp();
    ({ token, tenantId } = await tenantWithToken(app, ['system/*.*']));
  });
  after(() => app.close());

  const asTenant = async (id: string) => {
    const { client, secret } = await createClient(app.services, id, ['system/*.*']);
    const other = await tokenFor(app, client.client_id, secret);
    return fhirApi(() => ({ app, token: other }));
  };
  const versions = async () => Number((await ownerQuery('select count(*) as n from resource_versions'))[0]!.n);

  describe('Practitioner', () => {
    it('reads back what was written; the user and the membership hold its columns', async () => {
      const written = dentist();
      const created = await api.created(written);
      assert.deepEqual(content(created), written);
      assert.deepEqual(content((await api.get(`/Practitioner/${created.id}`).expect(200)).body), written);
      const [user] = await ownerQuery('select email, full_name, preferred_locale from users where id = $1', [created.id]);
      assert.deepEqual(user, { email: written.telecom[0].value, full_name: 'Dr Mei Chen', preferred_locale: 'en-US' });
      const [member] = await ownerQuery('select user_type, npi, active from user_tenants where tenant_id = $1 and user_id = $2', [tenantId, created.id]);
      assert.deepEqual(member, { user_type: 'DENTIST', npi: written.identifier[0].value, active: true });
    });

    it('is what encounters name as participant: chained search and _include find it', async () => {
      const practitioner = await api.created(dentist({ name: [{ text: 'Dr Ifeoma Nwosu' }] }));
      const patient = await api.created(dentalPatient());
      const encounter = await api.created({
        resourceType: 'Encounter', status: 'finished', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
        subject: { reference: `Patient/${patient.id}` }, participant: [{ individual: { reference: `Practitioner/${practitioner.id}` } }],
        period: { start: '2025-03-04T09:00:00Z', end: '2025-03-04T09:40:00Z' },
      });
      assert.deepEqual(await api.search('/Encounter?practitioner.name=nwosu'), [encounter.id]);
      assert.deepEqual(await api.search(`/Encounter?practitioner:identifier=${NPI}|${practitioner.identifier[0].value}`), [encounter.id]);
      const bundle = await api.bundle(`/Encounter?_id=${encounter.id}&_include=Encounter:practitioner`);
      assert.deepEqual(bundle.entry?.filter((e) => e.search.mode === 'include').map((e) => e.resource.id), [practitioner.id]);
      // Still named by the encounter: the practitioner cannot be deleted.
      const refused = await api.delete(`/Practitioner/${practitioner.id}`).expect(409);
      assert.match(refused.body.issue[0].diagnostics, /encounters/);
      await api.get(`/Practitioner/${practitioner.id}`).expect(200);
    });

    it('is found by name, identifier, email, active and communication', async () => {
      const a = await api.created(dentist({ name: [{ given: ['Tomás'], family: 'Ibarra' }], communication: [{ coding: [{ system: 'urn:ietf:bcp:47', code: 'es-MX' }] }] }));
      const b = await api.created(dentist({
        active: false, name: [{ text: 'Jordan Ibarra-Lee' }],
        qualification: [{ code: { coding: [{ system: NUCC, code: '124Q00000X', display: 'Dental Hygienist' }] } }],
      }));
      assert.deepEqual(await api.search('/Practitioner?name=ibarra'), [a.id, b.id].sort());
      assert.deepEqual(await api.search('/Practitioner?name=tomas'), [a.id]); // accent-insensitive
      assert.deepEqual(await api.search(`/Practitioner?identifier=${NPI}|${b.identifier[0].value}`), [b.id]);
      assert.deepEqual(await api.search(`/Practitioner?email=${encodeURIComponent(a.telecom[0].value)}`), [a.id]);
      assert.deepEqual(await api.search('/Practitioner?name=ibarra&active=false'), [b.id]);
      assert.deepEqual(await api.search('/Practitioner?name=ibarra&communication=urn:ietf:bcp:47|es-MX'), [a.id]);
    });

    it('a change of the user is a new version in every tenant the user belongs to', async () => {
      const practitioner = await api.created(dentist());
      const { tenantId: otherTenant } = await tenantWithToken(app, ['system/*.*']);
      await ownerQuery(`insert into user_tenants (tenant_id, user_id, user_type) values ($1, $2, 'HYGIENIST')`, [otherTenant, practitioner.id]);
      const other = await asTenant(otherTenant);
      const seen = (await other.get(`/Practitioner/${practitioner.id}`).expect(200)).body;
      assert.equal(seen.meta.versionId, '1');
      assert.equal(seen.qualification[0].code.coding[0].code, '124Q00000X');
      assert.equal(seen.identifier, undefined); // the NPI is this tenant's membership, not the person

      await api.put(`/Practitioner/${practitioner.id}`, { ...practitioner, name: [{ text: 'Dr Mei Chen-Whitfield' }] }).expect(200);
      const after = (await other.get(`/Practitioner/${practitioner.id}`).expect(200)).body;
      assert.equal(after.meta.versionId, '2');
      assert.deepEqual(after.name, [{ text: 'Dr Mei Chen-Whitfield' }]);
      assert.deepEqual((await other.get(`/Practitioner/${practitioner.id}/_history/1`).expect(200)).body.name, [{ text: 'Dr Mei Chen' }]);
      // A plain SQL change is a version too.
      await ownerQuery('update users set full_name = $2 where id = $1', [practitioner.id, 'Mei Whitfield']);
      assert.equal((await api.get(`/Practitioner/${practitioner.id}`).expect(200)).body.meta.versionId, '3');
      assert.equal((await other.get(`/Practitioner/${practitioner.id}`).expect(200)).body.meta.versionId, '3');
    });

    it('refuses what the tables cannot hold with 422 naming the element, writing nothing', async () => {
      const before = await versions();
      const noEmail = await api.post('/Practitioner', dentist({ telecom: [{ system: 'phone', value: '+1 415 555 0100' }] })).expect(422);
      assert.deepEqual(noEmail.body.issue[0].expression, ['Practitioner.telecom']);
      const noType = await api.post('/Practitioner', dentist({ qualification: undefined })).expect(422);
      assert.deepEqual(noType.body.issue[0].expression, ['Practitioner.qualification']);
      // An orthodontist (NUCC 1223X0400X) is not a clinician type the schema knows.
      const unknownType = await api.post('/Practitioner', dentist({ qualification: [{ code: { coding: [{ system: NUCC, code: '1223X0400X' }] } }] })).expect(422);
      assert.deepEqual(unknownType.body.issue[0].expression, ['Practitioner.qualification[0].code']);
      assert.equal(await versions(), before);
    });

    it('an email another user has is 409', async () => {
      const first = await api.created(dentist());
      const { token: otherToken } = await tenantWithToken(app, ['system/*.*']);
      const other = fhirApi(() => ({ app, token: otherToken }));
      await other.post('/Practitioner', dentist({ telecom: [{ system: 'email', value: first.telecom[0].value.toUpperCase() }] })).expect(409);
    });

    it('delete ends the membership: 410 after, the user stays; other members are not Practitioners', async () => {
      const practitioner = await api.created(dentist());
      await api.delete(`/Practitioner/${practitioner.id}`).expect(204);
      await api.get(`/Practitioner/${practitioner.id}`).expect(410);
      assert.equal(Number((await ownerQuery('select count(*) as n from users where id = $1', [practitioner.id]))[0]!.n), 1);
      assert.equal(Number((await ownerQuery('select count(*) as n from user_tenants where user_id = $1', [practitioner.id]))[0]!.n), 0);

      const frontDesk = { id: await memberUser(app, tenantId, { email: `sam.${Date.now()}@example.org`, fullName: 'Sam Front', userType: 'FRONT_DESK' }) };
      await api.get(`/Practitioner/${frontDesk.id}`).expect(404);
      assert.deepEqual(await api.search('/Practitioner?name=sam'), []);
      // Made a hygienist by another writer: a Practitioner from then on; back to front desk: deleted.
      await ownerQuery(`update user_tenants set user_type = 'HYGIENIST' where user_id = $1`, [frontDesk.id]);
      assert.equal((await api.get(`/Practitioner/${frontDesk.id}`).expect(200)).body.name[0].text, 'Sam Front');
      await ownerQuery(`update user_tenants set user_type = 'FRONT_DESK' where user_id = $1`, [frontDesk.id]);
      await api.get(`/Practitioner/${frontDesk.id}`).expect(410);
    });

    it('another tenant neither reads nor finds this tenant\'s practitioners', async () => {
      const practitioner = await api.created(dentist({ name: [{ text: 'Dr Private Person' }] }));
      const { token: otherToken } = await tenantWithToken(app, ['system/*.*']);
      const other = fhirApi(() => ({ app, token: otherToken }));
      await other.get(`/Practitioner/${practitioner.id}`).expect(404);
      assert.deepEqual(await other.search('/Practitioner?name=private'), []);
      await other.put(`/Practitioner/${practitioner.id}`, { ...practitioner, name: [{ text: 'Taken Over' }] }).expect(409);
      assert.deepEqual((await api.get(`/Practitioner/${practitioner.id}`).expect(200)).body.name, [{ text: 'Dr Private Person' }]);
    });
  });

  describe('Organization', () => {
    let dso: string;
    let practice: string;
    let sibling: string;

    before(async () => {
      dso = (await app.services.admin.createTenant({ name: 'Bayview Dental Group', type: 'DSO' }, SYSTEM)).id as string;
      practice = (await app.services.admin.createTenant({ name: 'Bayview Dental — Noe Valley', type: 'GROUP_PRACTICE', parent_tenant_id: dso }, SYSTEM)).id as string;
      sibling = (await app.services.admin.createTenant({ name: 'Bayview Dental — Sunset', type: 'SOLO_PRACTICE', parent_tenant_id: dso }, SYSTEM)).id as string;
    });

    it('the tenant reads itself, its parent and its children, and no one else', async () => {
      const asPractice = await asTenant(practice);
      const own = (await asPractice.get(`/Organization/${practice}`).expect(200)).body;
      assert.deepEqual(content(own), {
        resourceType: 'Organization', active: true,
        type: [{ coding: [{ system: ORGANIZATION_TYPE, code: 'prov' }, { system: TENANT_TYPE, code: 'group-practice' }] }],
        name: 'Bayview Dental — Noe Valley', partOf: { reference: `Organization/${dso}` },
      });
      assert.equal((await asPractice.get(`/Organization/${dso}`).expect(200)).body.name, 'Bayview Dental Group');
      await asPractice.get(`/Organization/${sibling}`).expect(404);
      await asPractice.get(`/Organization/${tenantId}`).expect(404);

      const asDso = await asTenant(dso);
      assert.deepEqual(await asDso.search(`/Organization?partof=Organization/${dso}`), [practice, sibling].sort());
      assert.deepEqual(await asDso.search('/Organization?type=prov&name=bayview'), [dso, practice, sibling].sort());
      const included = await asPractice.bundle(`/Organization?_id=${practice}&_include=Organization:partof`);
      assert.deepEqual(included.entry?.map((e) => e.resource.id), [practice, dso]);
    });

    it('a change of a tenant is a new version for each tenant that sees it', async () => {
      await ownerQuery('update tenants set name = $2 where id = $1', [dso, 'Bayview Dental Partners']);
      const asPractice = await asTenant(practice);
      const parent = (await asPractice.get(`/Organization/${dso}`).expect(200)).body;
      assert.equal(parent.name, 'Bayview Dental Partners');
      assert.equal(parent.meta.versionId, '2');
      assert.equal((await asPractice.get(`/Organization/${dso}/_history/1`).expect(200)).body.name, 'Bayview Dental Group');
      assert.deepEqual(await asPractice.search('/Organization?name=bayview dental partners'), [dso]);
    });

    it('the organisations of the tenancy are not written through FHIR: 422, nothing changes', async () => {
      const asPractice = await asTenant(practice);
      const own = (await asPractice.get(`/Organization/${practice}`).expect(200)).body;
      const before = await versions();
      const update = await asPractice.put(`/Organization/${practice}`, { ...own, name: 'Renamed' }).expect(422);
      assert.match(update.body.issue[0].diagnostics, /admin API/);
      await asPractice.delete(`/Organization/${dso}`).expect(422);
      await asPractice.post('/Organization', { resourceType: 'Organization', name: 'A new practice', type: [{ coding: [{ system: ORGANIZATION_TYPE, code: 'prov' }] }] })
        .expect(422);
      assert.equal(await versions(), before);
      assert.equal((await asPractice.get(`/Organization/${practice}`).expect(200)).body.name, 'Bayview Dental — Noe Valley');
    });

    it('a payer reads back what was written, lands in payers and is found by its parameters', async () => {
      const written = payer();
      const created = await api.created(written);
      assert.deepEqual(content(created), written);
      const [row] = await ownerQuery('select name, payer_code, type, contact_name, contact_phone, contact_email, website, active from payers where id = $1', [created.id]);
      assert.deepEqual(row, {
        name: written.name, payer_code: written.identifier[0].value, type: 'COMMERCIAL', contact_name: 'Provider Services',
        contact_phone: '+1 800 765 6003', contact_email: 'claims@deltadentalca.example', website: 'https://deltadentalca.example', active: true,
      });
      const inactive = await api.created(payer({ active: false, name: 'Delta Dental Legacy Plan' }));
      assert.deepEqual(await api.search('/Organization?type=pay&name=delta'), [created.id, inactive.id].sort());
      assert.deepEqual(await api.search(`/Organization?identifier=${PAYER_ID}|${written.identifier[0].value}`), [created.id]);
      assert.deepEqual(await api.search('/Organization?name=delta&active=false'), [inactive.id]);
      assert.deepEqual(await api.search('/Organization?type=prov'), [tenantId]);
      assert.deepEqual(await api.search('/Organization?type:text=payer&name=delta'), [created.id, inactive.id].sort());
      assert.deepEqual(await api.search(`/Organization?type:text=healthcare`), [tenantId]);

      await api.put(`/Organization/${inactive.id}`, { ...inactive, name: 'Delta Dental Legacy' }).expect(200);
      await api.delete(`/Organization/${inactive.id}`).expect(204);
      await api.get(`/Organization/${inactive.id}`).expect(410);
    });

    it('an Organization that is not a payer cannot be created: 422 naming Organization.type', async () => {
      const refused = await api.post('/Organization', payer({ type: [{ coding: [{ system: ORGANIZATION_TYPE, code: 'dept' }] }] })).expect(422);
      assert.deepEqual(refused.body.issue[0].expression, ['Organization.type']);
      const unknownPayerType = await api.post('/Organization', payer({ type: [{ coding: [{ system: ORGANIZATION_TYPE, code: 'pay' }, { system: PAYER_TYPE, code: 'crypto' }] }] })).expect(422);
      assert.deepEqual(unknownPayerType.body.issue[0].expression, ['Organization.type']);
    });
  });
});
