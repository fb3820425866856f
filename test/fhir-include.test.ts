import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { parseSearch } from '../src/fhir/search/parse.ts';
import { executeSearch } from '../src/fhir/search/execute.ts';
import { resolveIncludes } from '../src/fhir/search/include.ts';
import { parameterRegistry } from '../src/fhir/interactions/search.ts';
import { startTestApp, tenantWithToken, type TestApp } from './support/app.ts';
import { dentalPatient } from './support/fhir.ts';

type Bundle = { entry: { resource: { resourceType: string; id: string; issue?: { diagnostics: string }[] }; search: { mode: string } }[] };
const byMode = (bundle: Bundle, mode: string) => bundle.entry.filter((e) => e.search.mode === mode).map((e) => `${e.resource.resourceType}/${e.resource.id}`).sort();

describe('_include and _revinclude (search.html#include)', () => {
  let app: TestApp;
  let token: string;
  let tenantId: string;
  const ids: Record<string, string> = {};

  before(async () => {
    app = await startTestApp();
    ({ token, tenantId } = await tenantWithToken(app, ['system/*.*']));
    const url = { patient: `urn:uuid:${randomUUID()}`, location: `urn:uuid:${randomUUID()}`, exam: `urn:uuid:${randomUUID()}`, hygiene: `urn:uuid:${randomUUID()}` };
    const encounter = (fullUrl: string, start: string) => ({
      fullUrl, request: { method: 'POST', url: 'Encounter' },
      resource: {
        resourceType: 'Encounter', status: 'finished', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
        subject: { reference: url.patient }, location: [{ location: { reference: url.location } }], period: { start, end: start.replace('T09', 'T10') },
      },
    });
    const res = await app.request.post('/fhir').auth(token, { type: 'bearer' }).type('application/fhir+json').send(JSON.stringify({
      resourceType: 'Bundle', type: 'transaction', entry: [
        { fullUrl: url.patient, resource: dentalPatient(), request: { method: 'POST', url: 'Patient' } },
        { fullUrl: url.location, resource: { resourceType: 'Location', name: 'Mission Street Dental – Operatory 3', status: 'active' }, request: { method: 'POST', url: 'Location' } },
        encounter(url.exam, '2026-03-02T09:00:00Z'),
        encounter(url.hygiene, '2026-09-01T09:00:00Z'),
        {
          request: { method: 'POST', url: 'Procedure' },
          resource: {
            resourceType: 'Procedure', status: 'completed', subject: { reference: url.patient }, encounter: { reference: url.exam },
            code: { coding: [{ system: 'http://www.ada.org/cdt', code: 'D2391' }] }, performedDateTime: '2026-03-02T09:30:00Z',
          },
        },
      ],
    })).expect(200);
    [ids.patient, ids.location, ids.exam, ids.hygiene, ids.procedure] = res.body.entry.map((e: { resource: { id: string } }) => e.resource.id);
  });
  after(() => app.close());

  const search = async (path: string, as = token) => (await app.request.get(`/fhir/${path}`).auth(as, { type: 'bearer' }).expect(200)).body as Bundle;

  it('_include adds the resources the matches refer to', async () => {
    const bundle = await search(`Encounter?_id=${ids.exam}&_include=Encounter:patient`);
    assert.deepEqual(byMode(bundle, 'match'), [`Encounter/${ids.exam}`]);
    assert.deepEqual(byMode(bundle, 'include'), [`Patient/${ids.patient}`]);
  });

  it('a wildcard includes every reference once, however many matches share it', async () => {
    const bundle = await search(`Encounter?patient=${ids.patient}&_include=Encounter:*`);
    assert.equal(byMode(bundle, 'match').length, 2);
    assert.deepEqual(byMode(bundle, 'include'), [`Location/${ids.location}`, `Patient/${ids.patient}`].sort());
  });

  it('_revinclude adds the resources that refer to the matches', async () => {
    const bundle = await search(`Patient?_id=${ids.patient}&_revinclude=Encounter:patient&_revinclude=Procedure:patient`);
    assert.deepEqual(byMode(bundle, 'include'), [`Encounter/${ids.exam}`, `Encounter/${ids.hygiene}`, `Procedure/${ids.procedure}`].sort());
  });

  it(':iterate follows references of included resources', async () => {
    const bundle = await search(`Procedure?_id=${ids.procedure}&_include=Procedure:encounter&_include:iterate=Encounter:location`);
    assert.deepEqual(byMode(bundle, 'include'), [`Encounter/${ids.exam}`, `Location/${ids.location}`].sort());
    // Without :iterate an include must start from the searched type: ignored under lenient handling.
    await app.request.get(`/fhir/Procedure?_id=${ids.procedure}&_include=Procedure:encounter&_include=Encounter:location`).auth(token, { type: 'bearer' }).expect(400);
    const without = (await app.request.get(`/fhir/Procedure?_id=${ids.procedure}&_include=Procedure:encounter&_include=Encounter:location`)
      .auth(token, { type: 'bearer' }).set('Prefer', 'handling=lenient').expect(200)).body as Bundle;
    assert.deepEqual(byMode(without, 'include'), [`Encounter/${ids.exam}`]);
  });

  it('types the scopes do not allow are left out, and the bundle says so', async () => {
    const sameTenant = await app.services.admin.createClient({ tenant_id: tenantId, name: 'encounters only', scopes: ['system/Encounter.read'] }, { actorType: 'SYSTEM' });
    const token2 = (await app.request.post('/auth/token').auth(sameTenant.client.client_id, sameTenant.clientSecret!).type('form').send({ grant_type: 'client_credentials' }).expect(200)).body.access_token;
    const bundle = await search(`Encounter?_id=${ids.exam}&_include=Encounter:patient`, token2);
    assert.deepEqual(byMode(bundle, 'include'), []);
    assert.match(JSON.stringify(bundle.entry.find((e) => e.search.mode === 'outcome')), /do not allow reading/);
  });

  it('past the limit the included resources are cut with an OperationOutcome, never silently', async () => {
    const result = await app.services.db.tenant(tenantId, async (trx) => {
      const lookup = app.services.fhirLookup;
      const search = parseSearch('Patient', new URLSearchParams(`_id=${ids.patient}&_revinclude=Encounter:patient`), parameterRegistry(lookup));
      const page = await executeSearch(trx, app.services.fhirStore, lookup, tenantId, search, { count: 10, total: 'none' });
      return resolveIncludes({ trx, store: app.services.fhirStore, lookup, tenantId, mayRead: () => true, limit: 1 },
        page.matches.map((version, i) => ({ version, snapshot: page.snapshots[i]! })), search.include, search.revinclude);
    });
    assert.equal(result.included.length, 1);
    assert.match(result.warnings[0] ?? '', /stopped at 1 included resources/);
  });
});
