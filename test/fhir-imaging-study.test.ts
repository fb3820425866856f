// FHIR ImagingStudy and Endpoint (src/fhir/mappings/imaging-study.ts, endpoint.ts; migrations/021):
// every stored study is an ImagingStudy whose elements are its DICOM files' values (DCMTK dcm2json
// as the reference), kept current as instances arrive, found by the R4 search parameters,
// read-only through FHIR and seen by its own tenant alone; the tenant's DICOMweb service is the
// Endpoint every study names.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { Client } from 'fhir-kit-client';
import { validateResource } from '../src/fhir/validation.ts';
import { PUBLIC_BASE_URL, createClient, memberUser, startTestApp, tenantWithToken, tokenFor, type TestApp } from './support/app.ts';
import { IMAGING_STUDY_SNAPSHOT_021 } from '../migrations/021_fhir_imaging_study.ts';
import { ownerClient, ownerQuery } from './support/database.ts';
import { pydicomFile, storeFiles, syntheticStudy } from './support/dicomweb.ts';
import { content, fhirApi, refusalAssertion, type Json } from './support/fhir.ts';
import { listeningTenantWithToken, startListeningApp, type ListeningApp } from './support/listening.ts';

const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
const SCT = 'http://snomed.info/sct';
const V2_0203 = 'http://terminology.hl7.org/CodeSystem/v2-0203';
const TOOTH_EXTENSION = 'https://cusp.dental/fhir/StructureDefinition/imaging-instance-tooth';
const BODY_PART_SYSTEM = 'https://cusp.dental/fhir/CodeSystem/dicom-body-part-examined';
const CONNECTION_TYPE = 'http://terminology.hl7.org/CodeSystem/endpoint-connection-type';
/** BodyPartExamined → SNOMED CT, as DICOM PS3.16 Annex L gives it, for the terms the sample files carry. */
const ANNEX_L: Record<string, [code: string, display: string]> = { JAW: ['661005', 'Jaw region'] };
/** A zone without daylight saving time, so the expected offset does not depend on the date. */
const ZONE = 'Asia/Kolkata';
const ZONE_OFFSET = '+05:30';

const IO = syntheticStudy('01-io');
const PX = syntheticStudy('02-px');
const CBCT = syntheticStudy('03-ct');
const XC = syntheticStudy('04-xc');
const CT_SMALL = [pydicomFile('CT_small.dcm')];
const MR_SMALL = [pydicomFile('MR_small.dcm')];

// ---- the DICOM files' values, read by DCMTK ---------------------------------------------------

type DataSet = Record<string, { vr: string; Value?: unknown[] }>;
const run = promisify(execFile);

const dataSets = new Map<string, Promise<DataSet>>();
function dcm2json(file: string): Promise<DataSet> {
  if (!dataSets.has(file)) {
    dataSets.set(file, run('dcm2json', ['-q', '-fc', file], { maxBuffer: 256 * 1024 * 1024 }).then(({ stdout }) => JSON.parse(stdout) as DataSet));
  }
  return dataSets.get(file)!;
}

/** The first value of an attribute as text (a PN by its alphabetic group), or undefined. */
function value(set: DataSet, tag: string): string | undefined {
  const first = set[tag]?.Value?.[0];
  if (first === undefined || first === null) return undefined;
  return typeof first === 'object' ? (first as { Alphabetic?: string }).Alphabetic : String(first);
}
const numberValue = (set: DataSet, tag: string) => (value(set, tag) === undefined ? undefined : Number(value(set, tag)));
const byNumberThenUid = (number: string, uid: string) => (a: DataSet, b: DataSet) =>
  (numberValue(a, number) ?? Infinity) - (numberValue(b, number) ?? Infinity) || value(a, uid)!.localeCompare(value(b, uid)!);

/** DICOM PN "Family^Given^Middle^Prefix^Suffix" as a person would write it. */
function shownName(name: string): string {
  const [family, given, middle, prefix, suffix] = name.split('^');
  return [prefix, given, middle, family, suffix].filter(Boolean).join(' ');
}

/** DA and TM as a FHIR dateTime: with the offset of the tenant's zone when it has one, else the date alone. */
function startedOf(date: string, time: string | undefined, offset: string | undefined): string {
  const day = `${date.slice(0, 4)}-${date.slice(4, 6)}-${date.slice(6, 8)}`;
  return offset && time ? `${day}T${time.slice(0, 2)}:${time.slice(2, 4)}:${time.slice(4, 6)}${time.slice(6)}${offset}` : day;
}

/** The teeth among the Primary Anatomic Structure Sequence items ("Entire ... tooth"), as codings. */
function teethOf(set: DataSet): Json[] {
  const items = (set['00082228']?.Value ?? []) as DataSet[];
  return items.filter((item) => /\btooth\b/i.test(value(item, '00080104') ?? ''))
    .map((item) => ({ system: value(item, '00080102') === 'SCT' ? SCT : undefined, code: value(item, '00080100'), display: value(item, '00080104') }))
    .sort((a, b) => a.code!.localeCompare(b.code!));
}

/** The ImagingStudy the files of one study must read as (without id and meta). */
function expectedImagingStudy(sets: DataSet[], refs: { patient: string; endpoint: string; offset?: string }): Json {
  const study = sets[0]!;
  const endpoint = [{ reference: `Endpoint/${refs.endpoint}` }];
  const seriesUids = [...new Set(sets.map((set) => value(set, '0020000E')!))];
  const firstOfSeries = seriesUids.map((uid) => sets.find((set) => value(set, '0020000E') === uid)!).sort(byNumberThenUid('00200011', '0020000E'));
  const accession = value(study, '00080050');
  const referrer = value(study, '00080090');
  const resource: Json = {
    resourceType: 'ImagingStudy',
    identifier: [
      { use: 'official', system: 'urn:dicom:uid', value: `urn:oid:${value(study, '0020000D')}` },
      ...(accession ? [{ use: 'usual', type: { coding: [{ system: V2_0203, code: 'ACSN' }] }, value: accession }] : []),
    ],
    status: 'available',
    modality: [...new Set(sets.map((set) => value(set, '00080060')!))].sort().map((code) => ({ system: DCM, code })),
    subject: { reference: `Patient/${refs.patient}` },
    started: startedOf(value(study, '00080020')!, value(study, '00080030'), refs.offset),
    ...(referrer ? { referrer: { display: shownName(referrer) } } : {}),
    endpoint,
    numberOfSeries: seriesUids.length,
    numberOfInstances: sets.length,
    ...(value(study, '00081030') ? { description: value(study, '00081030') } : {}),
    series: firstOfSeries.map((first) => {
      const instances = sets.filter((set) => value(set, '0020000E') === value(first, '0020000E')).sort(byNumberThenUid('00200013', '00080018'));
      const bodyPart = value(first, '00180015');
      const annexL = bodyPart ? ANNEX_L[bodyPart] : undefined;
      return {
        uid: value(first, '0020000E'),
        ...(numberValue(first, '00200011') !== undefined ? { number: numberValue(first, '00200011') } : {}),
        modality: { system: DCM, code: value(first, '00080060') },
        ...(value(first, '0008103E') ? { description: value(first, '0008103E') } : {}),
        numberOfInstances: instances.length,
        endpoint,
        ...(bodyPart ? { bodySite: annexL ? { system: SCT, code: annexL[0], display: annexL[1] } : { system: BODY_PART_SYSTEM, code: bodyPart, display: bodyPart } } : {}),
        instance: instances.map((instance) => {
          const teeth = teethOf(instance);
          return {
            ...(teeth.length > 0 ? { extension: teeth.map((tooth) => ({ url: TOOTH_EXTENSION, valueCoding: tooth })) } : {}),
            uid: value(instance, '00080018'),
            sopClass: { system: 'urn:ietf:rfc:3986', code: `urn:oid:${value(instance, '00080016')}` },
            ...(numberValue(instance, '00200013') !== undefined ? { number: numberValue(instance, '00200013') } : {}),
          };
        }),
      };
    }),
  };
  return JSON.parse(JSON.stringify(resource));
}

const studyUid = async (files: string[]) => value(await dcm2json(files[0]!), '0020000D')!;

async function storeAll(app: TestApp, tenantId: string, files: string[]): Promise<void> {
  for (const result of await storeFiles(app.services, tenantId, files)) assert.ok(result.stored, JSON.stringify(result));
}

describe('FHIR ImagingStudy and Endpoint', function () {
  this.timeout(120_000);
  let app: TestApp;
  // Tenant A: clinic time zone set; B: none.
  let tenantA: string;
  let tenantB: string;
  let writerToken: string;
  let readerToken: string;
  let otherToken: string;
  const reader = fhirApi(() => ({ app, token: readerToken }));
  const writer = fhirApi(() => ({ app, token: writerToken }));
  const other = fhirApi(() => ({ app, token: otherToken }));
  /** Tenant A's ImagingStudy id by study: io, px, xc, ct (CT_small). */
  const ids: Record<string, string> = {};
  const uids: Record<string, string> = {};
  let endpointA: string;
  let endpointB: string;
  let dentalPatient: string;
  let ctPatient: string;

  const idByUid = async (api: ReturnType<typeof fhirApi>, uid: string) => {
    const found = await api.search(`/ImagingStudy?identifier=urn:dicom:uid|urn:oid:${uid}`);
    assert.equal(found.length, 1, `one ImagingStudy for ${uid}`);
    return found[0]!;
  };

  before(async () => {
    app = await startTestApp();
    ({ tenantId: tenantA, token: writerToken } = await tenantWithToken(app, ['system/*.*']));
    const { client, secret } = await createClient(app.services, tenantA, ['system/ImagingStudy.read', 'system/Patient.read', 'system/Endpoint.read']);
    readerToken = await tokenFor(app, client.client_id, secret);
    ({ tenantId: tenantB, token: otherToken } = await tenantWithToken(app, ['system/*.read']));
    await ownerQuery('insert into tenant_settings (tenant_id, default_timezone) values ($1, $2)', [tenantA, ZONE]);

    await storeAll(app, tenantA, [...IO, ...PX, ...XC, ...CT_SMALL]);
    await storeAll(app, tenantB, [...IO, ...MR_SMALL]);
    for (const [name, files] of Object.entries({ io: IO, px: PX, xc: XC, ct: CT_SMALL })) {
      uids[name] = await studyUid(files);
      ids[name] = await idByUid(reader, uids[name]!);
    }
    const only = async (api: ReturnType<typeof fhirApi>, query: string) => {
      const found = await api.search(query);
      assert.equal(found.length, 1, query);
      return found[0]!;
    };
    endpointA = await only(reader, '/Endpoint');
    endpointB = await only(other, '/Endpoint');
    dentalPatient = await only(reader, '/Patient?identifier=SYNTHDENT|D1-000001');
    ctPatient = await only(reader, '/Patient?identifier=1CT1');
  });
  after(() => app.close());

  describe('read', () => {
    it('every stored study is an ImagingStudy whose elements are the values of its DICOM files', async () => {
      const studies: [string, string[], string][] = [['io', IO, dentalPatient], ['px', PX, dentalPatient], ['xc', XC, dentalPatient], ['ct', CT_SMALL, ctPatient]];
      for (const [name, files, patient] of studies) {
        const read = (await reader.get(`/ImagingStudy/${ids[name]}`).expect(200)).body;
        validateResource(read);
        const expected = expectedImagingStudy(await Promise.all(files.map(dcm2json)), { patient, endpoint: endpointA, offset: ZONE_OFFSET });
        assert.deepEqual(content(read), expected, name);
      }
    });

    it('a version reads as the document migration 021 made, and reads only its own study\'s rows even on a generic plan', async () => {
      const client = await ownerClient();
      try {
        await client.query('begin');
        await client.query(IMAGING_STUDY_SNAPSHOT_021.replace('function cusp_imaging_study_snapshot', 'function pg_temp.snapshot_021'));
        for (const [name, id] of Object.entries(ids)) {
          const { rows: [compared] } = await client.query(`select v.snapshot as now, pg_temp.snapshot_021($1, $2) as then
            from fhir_resource_versions v where v.tenant_id = $1 and v.resource_type = 'ImagingStudy' and v.resource_id = $2
            order by v.version_id desc limit 1`, [tenantA, id]);
          // The series' ids are new (migrations/026): what instances are put back under.
          for (const series of compared.now._children.imaging_series) delete series.id;
          assert.deepEqual(compared.now, compared.then, name);
        }
        // The plan cached for every later call, made without the values: what the statistics say of
        // other tenants' and studies' rows must not matter. CT_small's study has one instance.
        await client.query('set local plan_cache_mode = force_generic_plan');
        const rowsRead = async (table: string) => Number((await client.query(`select coalesce(idx_tup_fetch, 0) + seq_tup_read as read
          from pg_stat_xact_user_tables where relname = $1`, [table])).rows[0]!.read);
        const before = await rowsRead('imaging_instance_versions');
        const { rows: [version] } = await client.query(`select snapshot from fhir_resource_versions
          where tenant_id = $1 and resource_type = 'ImagingStudy' and resource_id = $2 order by version_id desc limit 1`, [tenantA, ids.ct]);
        assert.equal(version.snapshot._children.imaging_series[0].instances.length, 1);
        assert.equal(await rowsRead('imaging_instance_versions') - before, 1, 'the version of a one-instance study reads its one instance');
        const beforeSnapshot = await rowsRead('imaging_series');
        await client.query('select cusp_imaging_study_snapshot($1, $2)', [tenantA, ids.ct]);
        assert.equal(await rowsRead('imaging_series') - beforeSnapshot, 1, 'the snapshot of a one-series study reads its one series');
      } finally {
        await client.query('rollback');
        await client.end();
      }
    });

    it('a version\'s snapshot is compressed with LZ4 where the server offers it', async () => {
      const client = await ownerClient();
      try {
        await client.query('begin');
        const { rows: [server] } = await client.query(
          "select coalesce('lz4' = any(enumvals), false) as offered from pg_settings where name = 'default_toast_compression'");
        // A snapshot of tens of kilobytes: version 1000 of a stored study, repeated.
        await client.query(`insert into resource_versions (tenant_id, resource_type, resource_id, version_id, last_updated, operation, snapshot)
          select tenant_id, resource_type, resource_id, 1000, last_updated, operation,
                 snapshot || jsonb_build_object('padding', (select jsonb_agg(snapshot || jsonb_build_object('n', n)) from generate_series(1, 200) n))
          from resource_versions where tenant_id = $1 and resource_type = 'ImagingStudy' and resource_id = $2 order by version_id desc limit 1`, [tenantA, ids.ct]);
        const { rows: [stored] } = await client.query(`select pg_column_compression(snapshot) as compression from resource_versions
          where tenant_id = $1 and resource_type = 'ImagingStudy' and resource_id = $2 and version_id = 1000`, [tenantA, ids.ct]);
        assert.equal(stored.compression, server.offered ? 'lz4' : 'pglz');
      } finally {
        await client.query('rollback');
        await client.end();
      }
    });

    it('StudyDate and StudyTime carry no time zone: started is the instant in the tenant\'s zone, or the date alone when it has none', async () => {
      assert.equal((await reader.get(`/ImagingStudy/${ids.io}`).expect(200)).body.started, '2022-10-19T09:40:29+05:30');
      const [idInB] = await other.search(`/ImagingStudy?identifier=urn:dicom:uid|urn:oid:${uids.io}`);
      assert.equal((await other.get(`/ImagingStudy/${idInB}`).expect(200)).body.started, '2022-10-19');
    });

    it('names the referring dentist as a Practitioner only when the study names a clinician of the tenant', async () => {
      const dentist = await memberUser(app, tenantA, { email: `wei.chen.${Date.now()}@example.org`, fullName: 'Dr Wei Chen', userType: 'DENTIST' });
      const clerk = await memberUser(app, tenantA, { email: `front.${Date.now()}@example.org`, fullName: 'Front Desk', userType: 'FRONT_DESK' });
      const before = (await reader.get(`/ImagingStudy/${ids.px}`).expect(200)).body;
      await ownerQuery('update imaging_studies set referring_provider_id = $1 where tenant_id = $2 and id = $3', [dentist, tenantA, ids.px]);
      const after = (await reader.get(`/ImagingStudy/${ids.px}`).expect(200)).body;
      assert.equal(Number(after.meta.versionId), Number(before.meta.versionId) + 1);
      assert.deepEqual(after.referrer, { reference: `Practitioner/${dentist}`, display: 'Dr. Wei Chen' });
      assert.deepEqual(await reader.search(`/ImagingStudy?referrer=Practitioner/${dentist}`), [ids.px]);
      assert.deepEqual(await reader.search(`/ImagingStudy?referrer=Practitioner/${clerk}`), []);

      await ownerQuery('update imaging_studies set referring_provider_id = $1 where tenant_id = $2 and id = $3', [clerk, tenantA, ids.px]);
      assert.deepEqual((await reader.get(`/ImagingStudy/${ids.px}`).expect(200)).body.referrer, { display: 'Dr. Wei Chen' });
      await ownerQuery('update imaging_studies set referring_provider_id = null where tenant_id = $1 and id = $2', [tenantA, ids.px]);
    });
  });

  describe('search', () => {
    const all = () => [ids.io!, ids.px!, ids.xc!, ids.ct!].sort();
    const dental = () => [ids.io!, ids.px!, ids.xc!].sort();

    it('by patient and subject: the study is found through the patient PatientID linked it to', async () => {
      assert.deepEqual(await reader.search(`/ImagingStudy?patient=Patient/${dentalPatient}`), dental());
      assert.deepEqual(await reader.search(`/ImagingStudy?subject=${dentalPatient}`), dental());
      assert.deepEqual(await reader.search('/ImagingStudy?patient.identifier=SYNTHDENT|D1-000001'), dental());
      assert.deepEqual(await reader.search(`/ImagingStudy?patient=${ctPatient}`), [ids.ct]);
      assert.deepEqual(await reader.search(`/ImagingStudy?patient=Patient/${randomUUID()}`), []);
      assert.deepEqual(await reader.search('/ImagingStudy?subject:Patient.identifier=SYNTHDENT|D9-999999'), []);
    });

    it('by started, with prefixes, as the range the date or instant stands for', async () => {
      assert.deepEqual(await reader.search('/ImagingStudy?started=2022-10-19'), [ids.io]);
      assert.deepEqual(await reader.search(`/ImagingStudy?started=${encodeURIComponent('2022-10-19T09:40:29+05:30')}`), [ids.io]);
      assert.deepEqual(await reader.search('/ImagingStudy?started=2022-10-19T04:10:29Z'), [ids.io]);
      assert.deepEqual(await reader.search('/ImagingStudy?started=ge2022-10-20'), [ids.px, ids.xc].sort());
      assert.deepEqual(await reader.search('/ImagingStudy?started=lt2005'), [ids.ct]);
      assert.deepEqual(await reader.search('/ImagingStudy?started=ge2022-10&started=lt2022-11'), [ids.io, ids.px].sort());
      assert.deepEqual(await reader.search('/ImagingStudy?started=2022-10-20'), []);
      assert.deepEqual(await reader.search('/ImagingStudy?started=2022-10-19T04:10:31Z'), []);
    });

    it('by modality', async () => {
      assert.deepEqual(await reader.search('/ImagingStudy?modality=IO'), [ids.io]);
      assert.deepEqual(await reader.search(`/ImagingStudy?modality=${DCM}|PX`), [ids.px]);
      assert.deepEqual(await reader.search('/ImagingStudy?modality=CT,XC'), [ids.ct, ids.xc].sort());
      assert.deepEqual(await reader.search('/ImagingStudy?modality=MR'), []);
      assert.deepEqual(await reader.search(`/ImagingStudy?modality=${SCT}|IO`), []);
    });

    it('by identifier: the Study Instance UID as urn:oid, or the accession number', async () => {
      assert.deepEqual(await reader.search(`/ImagingStudy?identifier=urn:dicom:uid|urn:oid:${uids.io}`), [ids.io]);
      assert.deepEqual(await reader.search(`/ImagingStudy?identifier=urn:oid:${uids.ct}`), [ids.ct]);
      assert.deepEqual(await reader.search('/ImagingStudy?identifier=A100000102'), [ids.px]);
      assert.deepEqual(await reader.search(`/ImagingStudy?identifier:of-type=${V2_0203}|ACSN|A100000104`), [ids.xc]);
      assert.deepEqual(await reader.search('/ImagingStudy?identifier=urn:dicom:uid|urn:oid:1.2.826.0.1.3680043.2.1125.1'), []);
      assert.deepEqual(await reader.search('/ImagingStudy?identifier=urn:dicom:uid|A100000102'), []);
      assert.deepEqual(await reader.search(`/ImagingStudy?identifier:of-type=${V2_0203}|ACSN|urn:oid:${uids.io}`), []);
    });

    it('by bodysite: the body part examined, and the teeth the instances depict', async () => {
      const teeth = new Set((await Promise.all(IO.map(dcm2json))).flatMap(teethOf).map((tooth) => tooth.code));
      assert.ok(teeth.has('245568002'), 'the bitewings show tooth 16 (SCT 245568002)');
      const absentTooth = ['245577009', '245573008', '245578004'].find((code) => !teeth.has(code))!;
      assert.deepEqual(await reader.search(`/ImagingStudy?bodysite=${SCT}|661005`), dental());
      assert.deepEqual(await reader.search(`/ImagingStudy?bodysite=${SCT}|245568002`), [ids.io]);
      assert.deepEqual(await reader.search('/ImagingStudy?bodysite=245568002'), [ids.io]);
      assert.deepEqual(await reader.search(`/ImagingStudy?bodysite=${SCT}|${absentTooth}`), []);
      assert.deepEqual(await reader.search('/ImagingStudy?bodysite=urn:oid:1.0.3950|245568002'), []);
      assert.deepEqual(await reader.search(`/ImagingStudy?bodysite=${BODY_PART_SYSTEM}|JAW`), []);
    });

    it('by endpoint', async () => {
      assert.deepEqual(await reader.search(`/ImagingStudy?endpoint=Endpoint/${endpointA}`), all());
      assert.deepEqual(await reader.search(`/ImagingStudy?endpoint=Endpoint/${endpointB}`), []);
    });

    it('by series, instance and dicom-class', async () => {
      const px = await dcm2json(PX[0]!);
      assert.deepEqual(await reader.search(`/ImagingStudy?series=${value(px, '0020000E')}`), [ids.px]);
      assert.deepEqual(await reader.search(`/ImagingStudy?instance=${value(px, '00080018')}`), [ids.px]);
      assert.deepEqual(await reader.search('/ImagingStudy?series=1.2.826.0.1.3680043.2.1125.2'), []);
      assert.deepEqual(await reader.search(`/ImagingStudy?instance=${value(px, '0020000E')}`), []);
      assert.deepEqual(await reader.search('/ImagingStudy?dicom-class=urn:ietf:rfc:3986|urn:oid:1.2.840.10008.5.1.4.1.1.1.3'), [ids.io]);
      assert.deepEqual(await reader.search('/ImagingStudy?dicom-class=urn:oid:1.2.840.10008.5.1.4.1.1.2'), [ids.ct]);
      assert.deepEqual(await reader.search('/ImagingStudy?dicom-class=urn:oid:1.2.840.10008.5.1.4.1.1.4'), []);
      assert.deepEqual(await reader.search('/ImagingStudy?dicom-class=urn:ietf:rfc:3986|1.2.840.10008.5.1.4.1.1.2'), []);
    });

    it('by status', async () => {
      assert.deepEqual(await reader.search('/ImagingStudy?status=available'), all());
      assert.deepEqual(await reader.search('/ImagingStudy?status=registered'), []);
    });

    it('with _id, _lastUpdated, _count, _sort and paging', async () => {
      assert.deepEqual(await reader.search(`/ImagingStudy?_id=${ids.xc}`), [ids.xc]);
      assert.deepEqual(await reader.search(`/ImagingStudy?_id=${randomUUID()}`), []);
      assert.deepEqual(await reader.search('/ImagingStudy?_lastUpdated=gt2020-01-01'), all());
      assert.deepEqual(await reader.search('/ImagingStudy?_lastUpdated=lt2020-01-01'), []);
      const sorted = await reader.bundle('/ImagingStudy?_sort=-started');
      assert.deepEqual(sorted.entry?.map((e) => e.resource.id), [ids.xc, ids.px, ids.io, ids.ct]);
      const seen: string[] = [];
      let page = await reader.bundle('/ImagingStudy?_sort=started&_count=3');
      for (;;) {
        seen.push(...(page.entry ?? []).map((e) => e.resource.id as string));
        const next = page.link?.find((link) => link.relation === 'next')?.url;
        if (!next) break;
        page = await reader.bundle(next.slice(`${PUBLIC_BASE_URL}/fhir`.length));
      }
      assert.deepEqual(seen, [ids.ct, ids.io, ids.px, ids.xc]);
    });

    it('with _include=ImagingStudy:patient and ImagingStudy:endpoint', async () => {
      const bundle = await reader.bundle(`/ImagingStudy?patient=${dentalPatient}&_include=ImagingStudy:patient&_include=ImagingStudy:endpoint`);
      const included = (bundle.entry ?? []).filter((e) => e.search.mode === 'include').map((e) => `${e.resource.resourceType}/${e.resource.id}`).sort();
      assert.deepEqual(included, [`Endpoint/${endpointA}`, `Patient/${dentalPatient}`]);
      assert.equal((bundle.entry ?? []).filter((e) => e.search.mode === 'match').length, 3);
    });
  });

  describe('Endpoint', () => {
    it('is the tenant\'s DICOMweb service, at the public base URL, managed by the tenant\'s organisation', async () => {
      const endpoint = (await reader.get(`/Endpoint/${endpointA}`).expect(200)).body;
      validateResource(endpoint);
      assert.deepEqual(content(endpoint), {
        resourceType: 'Endpoint',
        status: 'active',
        connectionType: { system: CONNECTION_TYPE, code: 'dicom-wado-rs' },
        name: 'DICOMweb',
        managingOrganization: { reference: `Organization/${tenantA}` },
        payloadType: [{ text: 'DICOM' }],
        payloadMimeType: ['application/dicom', 'application/dicom+json'],
        address: `${PUBLIC_BASE_URL}/dicomweb`,
      });
      assert.equal(endpoint.meta.versionId, '1');
      assert.deepEqual((await reader.get(`/ImagingStudy/${ids.io}`).expect(200)).body.endpoint, [{ reference: `Endpoint/${endpointA}` }]);
      const history = await reader.bundle(`/Endpoint/${endpointA}/_history`);
      assert.equal(history.entry?.length, 1);
    });

    it('is found by status, connection-type, name and organization', async () => {
      assert.deepEqual(await reader.search('/Endpoint?status=active'), [endpointA]);
      assert.deepEqual(await reader.search(`/Endpoint?connection-type=${CONNECTION_TYPE}|dicom-wado-rs`), [endpointA]);
      assert.deepEqual(await reader.search('/Endpoint?name=dicomweb'), [endpointA]);
      assert.deepEqual(await reader.search(`/Endpoint?organization=Organization/${tenantA}`), [endpointA]);
      assert.deepEqual(await reader.search('/Endpoint?status=off'), []);
      assert.deepEqual(await reader.search(`/Endpoint?connection-type=${CONNECTION_TYPE}|dicom-stow-rs`), []);
      assert.deepEqual(await reader.search('/Endpoint?name=pacs'), []);
      assert.deepEqual(await reader.search(`/Endpoint?organization=Organization/${tenantB}`), []);
    });
  });

  describe('read-only through FHIR', () => {
    const state = () => ownerQuery(`select (select count(*) from resource_versions where tenant_id = $1) as versions,
      (select count(*) from imaging_studies where tenant_id = $1) as studies`, [tenantA]);
    const refused = refusalAssertion(state);

    it('create, update, patch and delete of an ImagingStudy or the Endpoint are 422 and change nothing', async () => {
      const study = (await writer.get(`/ImagingStudy/${ids.io}`).expect(200)).body as Json;
      const { id: _id, meta: _meta, ...body } = study;
      await refused(() => writer.post('/ImagingStudy', body), 422);
      await refused(() => writer.put(`/ImagingStudy/${ids.io}`, { ...study, description: 'Bitewings (edited)' }), 422);
      const unknownId = randomUUID();
      await refused(() => writer.put(`/ImagingStudy/${unknownId}`, { ...body, id: unknownId }), 422);
      await refused(() => app.request.patch(`/fhir/ImagingStudy/${ids.io}`).auth(writerToken, { type: 'bearer' })
        .type('application/json-patch+json').send(JSON.stringify([{ op: 'replace', path: '/description', value: 'x' }])), 422);
      await refused(() => writer.delete(`/ImagingStudy/${ids.io}`), 422);
      const endpoint = (await writer.get(`/Endpoint/${endpointA}`).expect(200)).body as Json;
      await refused(() => writer.post('/Endpoint', { ...endpoint, id: undefined, meta: undefined }), 422);
      await refused(() => writer.put(`/Endpoint/${endpointA}`, { ...endpoint, name: 'PACS' }), 422);
      await refused(() => writer.delete(`/Endpoint/${endpointA}`), 422);
      assert.equal((await writer.get(`/ImagingStudy/${ids.io}`).expect(200)).body.meta.versionId, study.meta.versionId);
    });

    it('the CapabilityStatement lists read, vread, history and search only, and the search parameters', async () => {
      const statement = (await app.request.get('/fhir/metadata').expect(200)).body;
      for (const type of ['ImagingStudy', 'Endpoint']) {
        const resource = statement.rest[0].resource.find((r: Json) => r.type === type);
        assert.deepEqual(resource.interaction.map((i: Json) => i.code).sort(), ['history-instance', 'history-type', 'read', 'search-type', 'vread']);
        assert.equal(resource.updateCreate, false);
        assert.equal(resource.conditionalCreate, false);
        assert.equal(resource.conditionalUpdate, false);
        assert.equal(resource.conditionalDelete, 'not-supported');
      }
      const imagingStudy = statement.rest[0].resource.find((r: Json) => r.type === 'ImagingStudy');
      const names = new Set(imagingStudy.searchParam.map((p: Json) => p.name));
      for (const name of ['patient', 'subject', 'started', 'modality', 'identifier', 'bodysite', 'endpoint', 'series', 'instance', 'dicom-class', 'status']) {
        assert.ok(names.has(name), name);
      }
    });
  });

  describe('tenant isolation', () => {
    it('another tenant neither reads nor finds this tenant\'s studies, nor its Endpoint', async () => {
      await other.get(`/ImagingStudy/${ids.io}`).expect(404);
      await other.get(`/Endpoint/${endpointA}`).expect(404);
      const [own] = await other.search(`/ImagingStudy?identifier=urn:dicom:uid|urn:oid:${uids.io}`);
      assert.ok(own && own !== ids.io, 'the same study stored by B is B\'s own ImagingStudy');
      assert.deepEqual(await other.search(`/ImagingStudy?patient=${dentalPatient}`), []);
      assert.deepEqual(await other.search(`/ImagingStudy?_id=${ids.px}`), []);
      assert.equal((await other.bundle('/ImagingStudy')).entry?.length, 2);
      assert.deepEqual((await other.get(`/ImagingStudy/${own}`).expect(200)).body.endpoint, [{ reference: `Endpoint/${endpointB}` }]);
    });

    it('reading an ImagingStudy needs a scope that grants it', async () => {
      const { client, secret } = await createClient(app.services, tenantA, ['system/Patient.read']);
      const token = await tokenFor(app, client.client_id, secret);
      await app.request.get(`/fhir/ImagingStudy/${ids.io}`).auth(token, { type: 'bearer' }).expect(403);
      await app.request.get('/fhir/ImagingStudy').auth(token, { type: 'bearer' }).expect(403);
    });
  });

  describe('kept current as instances arrive', () => {
    let tenantC: string;
    let tokenC: string;
    const api = fhirApi(() => ({ app, token: tokenC }));

    before(async () => {
      ({ tenantId: tenantC, token: tokenC } = await tenantWithToken(app, ['system/ImagingStudy.read', 'system/Patient.read', 'system/Endpoint.read']));
    });

    it('a study is registered until its first instance is stored; each stored instance is a new version, in the history', async () => {
      const uid = await studyUid(CBCT);
      await storeAll(app, tenantC, CBCT.slice(0, 1));
      const id = await idByUid(api, uid);
      const first = (await api.get(`/ImagingStudy/${id}`).expect(200)).body;
      assert.equal(first.meta.versionId, '2');
      assert.equal(first.status, 'available');
      assert.equal(first.numberOfInstances, 1);
      const registered = (await api.get(`/ImagingStudy/${id}/_history/1`).expect(200)).body;
      assert.equal(registered.status, 'registered');
      assert.equal(registered.numberOfInstances, 0);
      assert.equal(registered.series, undefined);

      await storeAll(app, tenantC, CBCT.slice(1, 2));
      const second = (await api.get(`/ImagingStudy/${id}`).expect(200)).body;
      assert.equal(second.meta.versionId, '3');
      assert.ok(Date.parse(second.meta.lastUpdated) >= Date.parse(first.meta.lastUpdated));
      assert.equal(second.series[0].instance.length, 2);
      await storeAll(app, tenantC, CBCT.slice(1, 2)); // the same bytes again: stored already, no new version
      assert.equal((await api.get(`/ImagingStudy/${id}`).expect(200)).body.meta.versionId, '3');

      await storeAll(app, tenantC, CBCT.slice(2));
      const last = (await api.get(`/ImagingStudy/${id}`).expect(200)).body;
      assert.equal(last.meta.versionId, String(CBCT.length + 1));
      const [patient] = await api.search('/Patient?identifier=SYNTHDENT|D1-000001');
      const [endpoint] = await api.search('/Endpoint');
      assert.deepEqual(content(last), expectedImagingStudy(await Promise.all(CBCT.map(dcm2json)), { patient: patient!, endpoint: endpoint! }));

      const history = await api.bundle(`/ImagingStudy/${id}/_history`);
      assert.deepEqual(history.entry?.map((e) => e.resource.meta.versionId), Array.from({ length: CBCT.length + 1 }, (_, i) => String(CBCT.length + 1 - i)));
      assert.deepEqual(history.entry?.map((e) => e.resource.numberOfInstances), Array.from({ length: CBCT.length + 1 }, (_, i) => CBCT.length - i));
      // Each version shows the instances stored up to it: the slices in the order they were stored.
      const sliceUids = (await Promise.all(CBCT.map(dcm2json))).map((set) => value(set, '00080018'));
      for (const entry of history.entry!) {
        const shown = (entry.resource.series?.[0]?.instance ?? []).map((instance: Json) => instance.uid).sort();
        assert.deepEqual(shown, sliceUids.slice(0, entry.resource.numberOfInstances).sort(), `version ${entry.resource.meta.versionId}`);
      }
      // A version records the study and its series; each instance is recorded once, for the span of versions it shows in.
      const sizes = await ownerQuery(`select version_id, octet_length(snapshot::text) as size from resource_versions
        where tenant_id = $1 and resource_type = 'ImagingStudy' and resource_id = $2 and version_id in (2, $3) order by version_id`, [tenantC, id, CBCT.length + 1]);
      assert.ok(sizes[1]!.size - sizes[0]!.size < 100, `a version of ${CBCT.length} instances is ${sizes[1]!.size} bytes, of one ${sizes[0]!.size}`);
      const [spans] = await ownerQuery('select count(*)::int as count from imaging_instance_versions where tenant_id = $1 and study_id = $2', [tenantC, id]);
      assert.equal(spans!.count, CBCT.length);
      const typeHistory = await api.bundle('/ImagingStudy/_history');
      assert.equal(typeHistory.entry?.length, CBCT.length + 1);
    });

    it('a change another writer makes to what the study shows is a new version; other changes are not', async () => {
      const id = await idByUid(api, await studyUid(CBCT));
      const version = async () => Number((await api.get(`/ImagingStudy/${id}`).expect(200)).body.meta.versionId);
      const start = await version();
      await ownerQuery('update imaging_series set series_description = $1 where tenant_id = $2 and study_id = $3', ['CBCT axial, reviewed', tenantC, id]);
      assert.equal(await version(), start + 1);
      assert.equal((await api.get(`/ImagingStudy/${id}`).expect(200)).body.series[0].description, 'CBCT axial, reviewed');
      await ownerQuery('update imaging_objects set byte_size = byte_size + 0 where tenant_id = $1 and study_id = $2', [tenantC, id]);
      assert.equal(await version(), start + 1);
      await ownerQuery("update imaging_objects set status = 'CREATING' where tenant_id = $1 and study_id = $2 and instance_number = 16", [tenantC, id]);
      assert.equal(await version(), start + 2);
      const withoutLast = (await api.get(`/ImagingStudy/${id}`).expect(200)).body;
      assert.equal(withoutLast.series[0].instance.length, CBCT.length - 1);
      assert.ok(!withoutLast.series[0].instance.some((instance: Json) => instance.number === 16));

      // Earlier versions keep showing what they showed.
      await ownerQuery('delete from imaging_objects where tenant_id = $1 and study_id = $2 and instance_number = 15', [tenantC, id]);
      assert.equal(await version(), start + 3);
      const numbers = async (versionId: number) => ((await api.get(`/ImagingStudy/${id}/_history/${versionId}`).expect(200)).body
        .series[0].instance as Json[]).map((instance) => instance.number as number);
      assert.deepEqual(await numbers(start + 3), Array.from({ length: CBCT.length - 2 }, (_, i) => i + 1));
      assert.deepEqual(await numbers(start + 2), Array.from({ length: CBCT.length - 1 }, (_, i) => i + 1));
      assert.deepEqual(await numbers(start + 1), Array.from({ length: CBCT.length }, (_, i) => i + 1));
    });

    it('a tooth added to or taken from a stored instance is a new version, and bodysite follows', async () => {
      const uid = await studyUid(IO);
      await storeAll(app, tenantC, IO);
      const id = await idByUid(api, uid);
      const version = async () => Number((await api.get(`/ImagingStudy/${id}`).expect(200)).body.meta.versionId);
      const start = await version();
      assert.deepEqual(await api.search(`/ImagingStudy?bodysite=${SCT}|245568002`), [id]);
      await ownerQuery("delete from imaging_object_teeth where tenant_id = $1 and tooth_code = '245568002'", [tenantC]);
      assert.equal(await version(), start + 1);
      assert.deepEqual(await api.search(`/ImagingStudy?bodysite=${SCT}|245568002`), []);
      const shown = (await api.get(`/ImagingStudy/${id}`).expect(200)).body;
      assert.ok(!JSON.stringify(shown).includes('245568002'));

      const [object] = await ownerQuery("select id from imaging_objects where tenant_id = $1 and study_id = $2 and instance_number = 1", [tenantC, id]);
      await ownerQuery(`insert into imaging_object_teeth (tenant_id, object_id, tooth_code, code_system, code_meaning)
        values ($1, $2, '245568002', 'SCT', 'Entire permanent maxillary right first molar tooth')`, [tenantC, object!.id]);
      assert.equal(await version(), start + 2);
      assert.deepEqual(await api.search(`/ImagingStudy?bodysite=${SCT}|245568002`), [id]);
      const first = (await api.get(`/ImagingStudy/${id}`).expect(200)).body.series[0].instance[0];
      assert.ok(first.extension.some((e: Json) => e.url === TOOTH_EXTENSION && e.valueCoding.code === '245568002'));
    });
  });
});

describe('ImagingStudy through fhir-kit-client against a listening server', function () {
  this.timeout(60_000);
  let server: ListeningApp;
  let client: Client;
  let tenantId: string;

  before(async () => {
    server = await startListeningApp();
    let token: string;
    ({ tenantId, token } = await listeningTenantWithToken(server, ['system/*.read']));
    client = new Client({ baseUrl: `${server.baseUrl}/fhir`, bearerToken: token });
    for (const result of await storeFiles(server.services, tenantId, IO)) assert.ok(result.stored);
  });
  after(() => server.close());

  it('finds the study by identifier and tooth, and its Endpoint is at the server\'s public base URL', async () => {
    const uid = await studyUid(IO);
    const bundle = await client.search({ resourceType: 'ImagingStudy', searchParams: { identifier: `urn:dicom:uid|urn:oid:${uid}`, bodysite: `${SCT}|245568002` } }) as unknown as fhir4.Bundle;
    assert.equal(bundle.entry?.length, 1);
    const study = bundle.entry![0]!.resource as fhir4.ImagingStudy;
    assert.equal(study.numberOfInstances, IO.length);
    const endpointId = study.endpoint![0]!.reference!.split('/')[1]!;
    const endpoint = await client.read({ resourceType: 'Endpoint', id: endpointId }) as unknown as fhir4.Endpoint;
    assert.equal(endpoint.address, `${server.baseUrl}/dicomweb`);
    const none = await client.search({ resourceType: 'ImagingStudy', searchParams: { modality: 'CT' } }) as unknown as fhir4.Bundle;
    assert.equal(none.entry?.length ?? 0, 0);
  });
});
