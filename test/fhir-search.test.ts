import assert from 'node:assert/strict';
import { startTestApp, tenantWithToken, PUBLIC_BASE_URL, type TestApp } from './support/app.ts';
import { dentalPatient } from './support/fhir.ts';

type Bundle = { total?: number; link: { relation: string; url: string }[]; entry?: { resource: Record<string, any>; search: { mode: string } }[] };

describe('FHIR search (search.html) on Patient', () => {
  let app: TestApp;
  let token: string;
  const ids: Record<string, string> = {};

  const search = async (query: string, expected = 200, prefer?: string): Promise<Bundle> => {
    const req = app.request.get(`/fhir/Patient${query}`).auth(token, { type: 'bearer' });
    if (prefer) req.set('Prefer', prefer);
    return (await req.expect(expected)).body;
  };
  const names = (bundle: Bundle) => (bundle.entry ?? []).filter((e) => e.search.mode === 'match').map((e) => e.resource.name?.[0]?.family as string).sort();

  before(async () => {
    app = await startTestApp();
    ({ token } = await tenantWithToken(app, ['system/*.*']));
    const people: [string, Record<string, unknown>][] = [
      ['nunez', { name: [{ family: 'Núñez', given: ['José'] }], gender: 'male', birthDate: '1975-03-02', identifier: [{ system: 'urn:mrn', value: 'A-1' }], telecom: [{ system: 'email', value: 'jose@example.org' }] }],
      ['nunes', { name: [{ family: 'Nunes', given: ['Maria'] }], gender: 'female', birthDate: '1975-11-30', identifier: [{ system: 'urn:mrn', value: 'A-2' }, { system: 'urn:payer', value: 'P-9' }] }],
      ['okafor', { name: [{ family: 'Okafor', given: ['Adaeze'] }], gender: 'female', birthDate: '1987-06-14', identifier: [{ value: 'NOSYS-3' }], address: [{ city: 'Oakland', postalCode: '94612' }] }],
      ['smith', { name: [{ family: 'Smith', given: ['Ann'] }], birthDate: '2001', address: [{ city: 'San Francisco', postalCode: '94110' }] }],
      ['lee', { name: [{ family: 'Lee' }], gender: 'unknown' }],
    ];
    for (const [key, fields] of people) {
      const { identifier: _i, address: _a, telecom: _t, gender: _g, birthDate: _b, name: _n, ...base } = dentalPatient();
      const res = await app.request.post('/fhir/Patient').auth(token, { type: 'bearer' }).type('application/fhir+json')
        .send(JSON.stringify({ ...base, ...fields })).expect(201);
      ids[key] = res.body.id;
    }
  });
  after(() => app.close());

  describe('string', () => {
    it('matches the start, ignoring case and accents', async () => {
      assert.deepEqual(names(await search('?family=nun')), ['Nunes', 'Núñez']);
      assert.deepEqual(names(await search('?family=NUÑ')), ['Nunes', 'Núñez']);
      assert.deepEqual(names(await search('?name=jose')), ['Núñez']);
    });
    it(':exact matches the whole value, case and accents included', async () => {
      assert.deepEqual(names(await search('?family:exact=Núñez')), ['Núñez']);
      assert.deepEqual(names(await search('?family:exact=nunez')), []);
    });
    it(':contains matches anywhere', async () => {
      assert.deepEqual(names(await search('?family:contains=afo')), ['Okafor']);
    });
    it('matches child rows (address)', async () => {
      assert.deepEqual(names(await search('?address-city=oak')), ['Okafor']);
      assert.deepEqual(names(await search('?address-postalcode=941')), ['Smith']);
    });
  });

  describe('token', () => {
    it('code, system|code, |code and system|', async () => {
      assert.deepEqual(names(await search('?identifier=A-1')), ['Núñez']);
      assert.deepEqual(names(await search('?identifier=urn:mrn|A-2')), ['Nunes']);
      assert.deepEqual(names(await search('?identifier=urn:payer|A-2')), []);
      assert.deepEqual(names(await search('?identifier=|NOSYS-3')), ['Okafor']);
      assert.deepEqual(names(await search('?identifier=urn:mrn|')), ['Nunes', 'Núñez']);
    });
    it('codes map to the schema values, with the fixed system', async () => {
      assert.deepEqual(names(await search('?gender=female')), ['Nunes', 'Okafor']);
      assert.deepEqual(names(await search('?gender=http://hl7.org/fhir/administrative-gender|male')), ['Núñez']);
      assert.deepEqual(names(await search('?gender=http://other.example/gender|male')), []);
    });
    it(':not excludes, and keeps resources without a value', async () => {
      assert.deepEqual(names(await search('?gender:not=female')), ['Lee', 'Núñez', 'Smith']);
    });
    it('_id', async () => {
      assert.deepEqual(names(await search(`?_id=${ids.lee},${ids.smith}`)), ['Lee', 'Smith']);
      assert.deepEqual(names(await search('?_id=not-a-uuid')), []);
    });
  });

  describe('date', () => {
    it('each prefix against the precision of the value', async () => {
      assert.deepEqual(names(await search('?birthdate=1975')), ['Nunes', 'Núñez']);
      assert.deepEqual(names(await search('?birthdate=1975-03')), ['Núñez']);
      assert.deepEqual(names(await search('?birthdate=1975-03-02')), ['Núñez']);
      assert.deepEqual(names(await search('?birthdate=ne1975')), ['Okafor', 'Smith']);
      assert.deepEqual(names(await search('?birthdate=gt1975-06')), ['Nunes', 'Okafor', 'Smith']);
      assert.deepEqual(names(await search('?birthdate=ge1975-11-30')), ['Nunes', 'Okafor', 'Smith']);
      assert.deepEqual(names(await search('?birthdate=lt1980')), ['Nunes', 'Núñez']);
      assert.deepEqual(names(await search('?birthdate=le1975-03-02')), ['Núñez']);
      assert.deepEqual(names(await search('?birthdate=sa1987-06-14')), ['Smith']);
      assert.deepEqual(names(await search('?birthdate=eb1975-11-30')), ['Núñez']);
    });
    it('a partial date in the resource is its whole range', async () => {
      // Smith's birthDate is "2001": stored as its first day, so the year and that day match.
      assert.deepEqual(names(await search('?birthdate=2001')), ['Smith']);
    });
    it('AND by repetition, OR by comma', async () => {
      assert.deepEqual(names(await search('?birthdate=ge1975&birthdate=lt1975-06')), ['Núñez']);
      assert.deepEqual(names(await search('?birthdate=1975-03-02,1987-06-14')), ['Núñez', 'Okafor']);
    });
    it('_lastUpdated', async () => {
      assert.equal(names(await search('?_lastUpdated=gt2000-01-01')).length, 5);
      assert.deepEqual(names(await search('?_lastUpdated=lt2000-01-01')), []);
    });
    it('an impossible date is 400', async () => {
      await search('?birthdate=1975-02-30', 400);
    });
  });

  describe(':missing', () => {
    it('on every type', async () => {
      assert.deepEqual(names(await search('?gender:missing=true')), ['Smith']);
      assert.deepEqual(names(await search('?birthdate:missing=true')), ['Lee']);
      assert.deepEqual(names(await search('?address-city:missing=false')), ['Okafor', 'Smith']);
      assert.equal(names(await search('?identifier:missing=true')).length, 2);
    });
  });

  describe('unknown parameters', () => {
    it('are 400 by default and under handling=strict', async () => {
      const outcome = (await app.request.get('/fhir/Patient?famly=Smith').auth(token, { type: 'bearer' }).expect(400)).body;
      assert.equal(outcome.resourceType, 'OperationOutcome');
      assert.deepEqual(outcome.issue[0].expression, ['famly']);
      await search('?famly=Smith', 400, 'handling=strict');
    });
    it('are ignored and reported under handling=lenient, and left out of the self link', async () => {
      const bundle = await search('?famly=Smith&family=Lee', 200, 'handling=lenient');
      assert.deepEqual(names(bundle), ['Lee']);
      const outcome = bundle.entry!.find((e) => e.search.mode === 'outcome');
      assert.match(JSON.stringify(outcome), /famly/);
      assert.equal(bundle.link.find((l) => l.relation === 'self')!.url, `${PUBLIC_BASE_URL}/fhir/Patient?family=Lee`);
    });
  });

  describe('_sort, _count, paging and _total', () => {
    it('sorts by several keys, descending with "-"', async () => {
      const bundle = await search('?_sort=-birthdate,family&_count=10');
      // Nulls last in both directions.
      assert.deepEqual(bundle.entry!.map((e) => e.resource.name[0].family), ['Smith', 'Okafor', 'Nunes', 'Núñez', 'Lee']);
      const byGender = await search('?_sort=gender,-family');
      assert.deepEqual(byGender.entry!.map((e) => e.resource.name[0].family), ['Okafor', 'Nunes', 'Núñez', 'Lee', 'Smith']);
    });
    it('_total=accurate counts all matches; _summary=count gives only the count', async () => {
      const bundle = await search('?gender=female&_total=accurate&_count=1');
      assert.equal(bundle.total, 2);
      assert.equal(bundle.entry!.length, 1);
      const counted = await search('?_summary=count');
      assert.equal(counted.total, 5);
      assert.equal(counted.entry?.length ?? 0, 0);
    });
    it('pages with next links until every match was seen once', async () => {
      const seen: string[] = [];
      let next: string | undefined = '/fhir/Patient?_count=2&_sort=family';
      while (next) {
        const page: { body: Bundle } = await app.request.get(next).auth(token, { type: 'bearer' }).expect(200);
        seen.push(...page.body.entry!.map((e) => e.resource.name[0].family));
        next = page.body.link.find((l) => l.relation === 'next')?.url.replace(PUBLIC_BASE_URL, '');
      }
      assert.deepEqual(seen, ['Lee', 'Nunes', 'Núñez', 'Okafor', 'Smith']);
    });
    it("a cursor is refused for another client", async () => {
      const page = await search('?_count=1');
      const next = page.link.find((l) => l.relation === 'next')!.url.replace(PUBLIC_BASE_URL, '');
      const other = await tenantWithToken(app, ['system/*.*']);
      await app.request.get(next).auth(other.token, { type: 'bearer' }).expect(400);
    });
    it('_elements keeps the elements asked for and marks the result SUBSETTED', async () => {
      const bundle = await search(`?_id=${ids.okafor}&_elements=birthDate`);
      const resource = bundle.entry![0]!.resource;
      assert.deepEqual(Object.keys(resource).sort(), ['birthDate', 'id', 'meta', 'resourceType']);
      assert.ok(resource.meta.tag.some((t: { code: string }) => t.code === 'SUBSETTED'));
    });
  });

  describe('POST _search', () => {
    it('takes form parameters, merged with the query', async () => {
      const res = await app.request.post('/fhir/Patient/_search?gender=female').auth(token, { type: 'bearer' })
        .type('form').send({ family: 'oka' }).expect(200);
      assert.deepEqual(names(res.body), ['Okafor']);
    });
  });

  describe('tenants', () => {
    it("another tenant's search finds none of these", async () => {
      const other = await tenantWithToken(app, ['system/*.*']);
      const res = await app.request.get('/fhir/Patient?_total=accurate').auth(other.token, { type: 'bearer' }).expect(200);
      assert.equal(res.body.total, 0);
    });
  });
});

describe('paging through 1,000 results while others write', () => {
  let app: TestApp;
  let token: string;
  let tenantId: string;
  let initial: string[];

  before(async function () {
    this.timeout(120_000);
    app = await startTestApp();
    ({ token, tenantId } = await tenantWithToken(app, ['system/*.*']));
    const entry = Array.from({ length: 1000 }, (_, i) => ({
      request: { method: 'POST', url: 'Patient' },
      resource: { resourceType: 'Patient', name: [{ family: `Pager${String(i % 37).padStart(2, '0')}`, given: [`N${i}`] }], birthDate: `19${50 + (i % 50)}-01-01` },
    }));
    await app.request.post('/fhir').auth(token, { type: 'bearer' }).type('application/fhir+json')
      .send(JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry })).set('Prefer', 'return=minimal').expect(200);
    initial = await app.services.db.tenant(tenantId, (trx) => trx('patients').pluck('id'));
  });
  after(() => app.close());

  for (const sort of ['', '&_sort=family,-birthdate', '&_sort=-_lastUpdated']) {
    it(`sees each of the 1,000 once, and nothing twice${sort ? ` (${sort.slice(1)})` : ''}`, async function () {
      this.timeout(60_000);
      const seen: string[] = [];
      let next: string | undefined = `/fhir/Patient?family=pager&_count=73${sort}`;
      for (let page = 0; next; page++) {
        const response: { body: Bundle } = await app.request.get(next).auth(token, { type: 'bearer' }).expect(200);
        seen.push(...(response.body.entry ?? []).map((e) => e.resource.id as string));
        next = response.body.link.find((l) => l.relation === 'next')?.url.replace(PUBLIC_BASE_URL, '');
        // Another client adds matching patients while this one pages.
        if (page % 3 === 0) {
          await app.request.post('/fhir/Patient').auth(token, { type: 'bearer' }).type('application/fhir+json')
            .send(JSON.stringify({ resourceType: 'Patient', name: [{ family: 'Pager99' }], birthDate: '2000-01-01' })).expect(201);
        }
      }
      assert.equal(new Set(seen).size, seen.length, 'no resource appears twice');
      const seenSet = new Set(seen);
      assert.deepEqual(initial.filter((id) => !seenSet.has(id)), [], 'every resource that existed before paging began was seen');
    });
  }
});
