// The DICOMweb measurements of `npm run bench`: STOW-RS ingest, QIDO-RS searches and WADO-RS
// retrieval over a generated dental corpus, against Cusp and (BENCH_ORTHANC=1) Orthanc on the same
// machine, with the same files, the same requests and the same concurrency.
//
// Environment: BENCH_DICOM_PATIENTS (20; two studies each), BENCH_DICOM_SCALE (0.5 of real dental
// matrix sizes), BENCH_DICOM_SEED, BENCH_DICOM_STOW_CLIENTS (4), BENCH_DICOM_CONCURRENCY (8),
// BENCH_DICOM_SECONDS (3 per read measurement, after BENCH_DICOM_WARMUP_SECONDS 0.5),
// BENCH_DICOM_CBCT_SLICES (400: a CBCT series of that many slices stored one instance per request
// after the corpus, as a modality sends one; 0 leaves it out),
// BENCH_ORTHANC=1, BENCH_CUSP_CPU_PROFILE=<dir> (a V8 CPU profile of the Cusp process).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { corpusDirectory, generateCorpus, type Corpus, type CorpusInstance, type CorpusStudy } from './dicomweb-corpus.ts';
import { startCusp } from './dicomweb-cusp.ts';
import { DicomwebHttp, expectStatus, type Answer, type DicomwebTarget } from './dicomweb-http.ts';
import { printComparison, type ServerResults } from './dicomweb-report.ts';
import { measure, measureEach, type Measurement } from './measure.ts';
import { findOrthanc, orthancVersions, startOrthanc } from './orthanc.ts';

export interface DicomwebBenchOptions {
  databaseUrl: string;
  patients: number;
  studiesPerPatient: number;
  scale: number;
  seed: number;
  /** Concurrent STOW-RS clients. */
  stowClients: number;
  /** Slices of the large CBCT series stored one instance per request (0: none). */
  cbctSlices: number;
  /** Concurrent clients of every read measurement. */
  concurrency: number;
  durationMs: number;
  warmupMs: number;
  orthanc: boolean;
  cpuProfileDir?: string;
}

const number = (name: string, fallback: number) => (process.env[name] ? Number(process.env[name]) : fallback);

export function dicomwebBenchOptions(databaseUrl: string): DicomwebBenchOptions {
  return {
    databaseUrl,
    patients: number('BENCH_DICOM_PATIENTS', 20),
    studiesPerPatient: number('BENCH_DICOM_STUDIES_PER_PATIENT', 2),
    scale: number('BENCH_DICOM_SCALE', 0.5),
    seed: number('BENCH_DICOM_SEED', 11),
    stowClients: number('BENCH_DICOM_STOW_CLIENTS', 4),
    cbctSlices: number('BENCH_DICOM_CBCT_SLICES', 400),
    concurrency: number('BENCH_DICOM_CONCURRENCY', 8),
    durationMs: number('BENCH_DICOM_SECONDS', 3) * 1000,
    warmupMs: number('BENCH_DICOM_WARMUP_SECONDS', 0.5) * 1000,
    orthanc: /^(1|true|yes)$/i.test(process.env.BENCH_ORTHANC ?? ''),
    cpuProfileDir: process.env.BENCH_CUSP_CPU_PROFILE || undefined,
  };
}

/** Generates the corpus, measures Cusp and, when asked, Orthanc; prints the comparison. */
export async function runDicomwebBench(options: DicomwebBenchOptions): Promise<void> {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cusp-bench-dicomweb-'));
  try {
    const corpusOptions = { patients: options.patients, studiesPerPatient: options.studiesPerPatient, scale: options.scale, seed: options.seed };
    const corpus = await generateCorpus({ ...corpusOptions, directory: corpusDirectory(os.tmpdir(), corpusOptions) });
    const cbctOptions = { patients: 1, studiesPerPatient: 1, scale: options.scale, seed: options.seed + 1, mix: 'ct=1', ctSlices: options.cbctSlices };
    const cbct = options.cbctSlices > 0 ? await generateCorpus({ ...cbctOptions, directory: corpusDirectory(os.tmpdir(), cbctOptions) }) : undefined;
    console.log(JSON.stringify({
      dicomwebCorpus: { studies: corpus.studies.length, series: corpus.series.length, instances: corpus.instances.length, MB: Number((corpus.bytes / 1e6).toFixed(1)), scale: options.scale },
      stowClients: options.stowClients, concurrency: options.concurrency, cpus: os.cpus().length,
    }));
    const targets = [await startCusp({ databaseUrl: options.databaseUrl, workDir, cpuProfileDir: options.cpuProfileDir })];
    try {
      if (options.orthanc) {
        const orthanc = findOrthanc();
        if ('missing' in orthanc) console.log(JSON.stringify({ server: 'orthanc', skipped: orthanc.missing }));
        else {
          targets.push(await startOrthanc({ workDir, ...orthanc }));
          console.log(JSON.stringify({ server: 'orthanc', version: await orthancVersions(targets[1]!) }));
        }
      }
      const servers = await benchServers(targets, corpus, cbct, options);
      if (servers.length > 1) printComparison(servers);
    } finally {
      for (const target of targets) await target.stop();
    }
  } finally {
    fs.rmSync(workDir, { recursive: true, force: true });
  }
}

/**
 * Stores the corpus into each server in turn, then takes each read measurement of each server in
 * turn (the others idle meanwhile), so that they see the same moments of a machine that other work
 * may share.
 */
async function benchServers(targets: DicomwebTarget[], corpus: Corpus, cbct: Corpus | undefined, options: DicomwebBenchOptions): Promise<ServerResults[]> {
  const servers = targets.map((target) => ({
    target, client: new DicomwebHttp(target, Math.max(options.concurrency, options.stowClients)), results: new Map<string, Measurement | Skipped>(),
  }));
  try {
    for (const { target, client, results } of servers) {
      for (const [name, result] of await storeCorpus(client, target, corpus, cbct, options)) results.set(name, result);
      await target.afterStore?.();
    }
    for (const read of readMeasurements(corpus, [...corpus.studies, ...(cbct?.studies ?? [])])) {
      for (const { target, client, results } of servers) results.set(read.name, await measureRead(client, target, read, options));
    }
  } finally {
    for (const { client } of servers) client.close();
  }
  return servers.map(({ target, results }) => ({ server: target.server, results }));
}

// --- STOW-RS ---------------------------------------------------------------------------------

const BOUNDARY = 'cusp-bench-7c1f0e9a4d';
const STOW_HEADERS = { 'content-type': `multipart/related; type="application/dicom"; boundary=${BOUNDARY}`, accept: 'application/dicom+json' };

async function stowBody(instances: CorpusInstance[]): Promise<Buffer> {
  const pieces: Buffer[] = [];
  for (const instance of instances) {
    pieces.push(Buffer.from(`--${BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n`), await fs.promises.readFile(instance.file), Buffer.from('\r\n'));
  }
  pieces.push(Buffer.from(`--${BOUNDARY}--\r\n`));
  return Buffer.concat(pieces);
}

async function stow(client: DicomwebHttp, instances: CorpusInstance[]) {
  const answer = await client.request('/studies', { method: 'POST', headers: STOW_HEADERS, body: await stowBody(instances), keepBody: true });
  expectStatus(answer, 200);
  return { units: instances.length, bytes: instances.reduce((sum, instance) => sum + instance.bytes, 0) };
}

/**
 * Stores the first study unmeasured (warm-up; then the server's planner statistics, which a live
 * server's database keeps current by itself), then every other study one instance per request and
 * the rest one study per request, from several clients at once. Instances go in study order, so
 * concurrent single-instance requests mostly belong to one study, as when a modality sends a
 * series over several connections. Then the large CBCT series, one slice per request: each
 * request adds to a study that grows to hundreds of instances.
 */
async function storeCorpus(client: DicomwebHttp, target: DicomwebTarget, corpus: Corpus, cbct: Corpus | undefined, options: DicomwebBenchOptions): Promise<[string, Measurement | Skipped][]> {
  const [first, ...rest] = corpus.studies;
  const instancesOf = (study: CorpusStudy) => study.series.flatMap((series) => series.instances);
  try {
    await stow(client, instancesOf(first!));
    await target.afterStore?.();
  } catch (error) {
    const skipped = skip(target, 'STOW-RS', error instanceof Error ? error.message : String(error));
    return [['STOW-RS', skipped]];
  }
  const labels = { server: target.server };
  const byInstance = rest.filter((_, index) => index % 2 === 0).flatMap(instancesOf);
  const byStudy = rest.filter((_, index) => index % 2 === 1).map(instancesOf);
  const perInstance = await measureEach('STOW-RS one instance per request (instances/s)', byInstance, (instance) => stow(client, [instance]), { concurrency: options.stowClients, labels });
  const perStudy = await measureEach('STOW-RS one study per request (instances/s)', byStudy, (instances) => stow(client, instances), { concurrency: options.stowClients, labels });
  const results: [string, Measurement][] = [[perInstance.name, perInstance], [perStudy.name, perStudy]];
  if (cbct) {
    const name = `STOW-RS ${cbct.instances.length}-slice CBCT one slice per request (instances/s)`;
    results.push([name, await measureEach(name, cbct.instances, (instance) => stow(client, [instance]), { concurrency: options.stowClients, labels })]);
  }
  return results;
}

// --- QIDO-RS and WADO-RS ---------------------------------------------------------------------

export interface Skipped {
  name: string;
  skipped: string;
}

function skip(target: DicomwebTarget, name: string, reason: string): Skipped {
  const skipped = { server: target.server, name, skipped: reason };
  console.log(JSON.stringify(skipped));
  return skipped;
}

interface ReadMeasurement {
  name: string;
  /** The i-th request (requests go round the corpus). */
  resource(i: number): string;
  accept: string;
  /** Whether the bytes answered are a figure of the measurement (MB/s). */
  throughput?: boolean;
  /**
   * Looks at the first answer (body kept): a problem skips the measurement (the server cannot do
   * it), a warning is printed with it (the server answers, but not what the corpus says it should).
   */
  check(answer: Answer): { problem?: string; warning?: string };
}

const DICOM_JSON = 'application/dicom+json';
const MULTIPART_DICOM = 'multipart/related; type="application/dicom"; transfer-syntax=*';
const MULTIPART_FRAMES = 'multipart/related; type="application/octet-stream"; transfer-syntax=*';
const OHIF_STUDY_LIST = '/studies?limit=101&includefield=00081030,00080060,00080090,00100030';

const at = <T>(items: T[], i: number): T => items[i % items.length]!;
const seriesPath = (study: string, series: string) => `/studies/${study}/series/${series}`;

/** The requests go to `corpus`; the answers are checked against every study `stored` (the CBCT too). */
function readMeasurements(corpus: Corpus, stored: CorpusStudy[]): ReadMeasurement[] {
  const seriesRefs = corpus.studies.flatMap((study) => study.series.map((series) => ({ study: study.uid, series })));
  const instanceRefs = seriesRefs.flatMap(({ study, series }) => series.instances.map((instance) => ({ study, series: series.uid, instance })));
  // PatientName prefixes in ASCII (servers differ in how they fold accented letters), each asked in turn.
  const prefixes = [...new Set(corpus.studies.map((study) => study.patientName.slice(0, 3)).filter((prefix) => /^[A-Za-z]{3}$/.test(prefix)))];
  const years = [...new Set(corpus.studies.map((study) => study.date.slice(0, 4)))].sort();
  const studiesMatching = (prefix: string) => stored.filter((study) => study.patientName.toLowerCase().startsWith(prefix.toLowerCase())).length;
  const studiesIn = (year: string) => stored.filter((study) => study.date.startsWith(year)).length;

  const json = (expected: number) => (answer: Answer) => {
    if (!answer.contentType.includes('json')) return { problem: `content type ${answer.contentType}` };
    const matches = (JSON.parse(answer.body!.toString('utf8') || '[]') as unknown[]).length;
    return { warning: matches === expected ? undefined : `expected ${expected} results, got ${matches}` };
  };
  const multipart = (minimumBytes: number, contains?: Buffer) => (answer: Answer) => {
    if (!answer.contentType.startsWith('multipart/related')) return { problem: `content type ${answer.contentType}` };
    if (answer.bytes < minimumBytes) return { problem: `${answer.bytes} bytes, expected at least ${minimumBytes}` };
    if (contains && answer.body!.indexOf(contains) < 0) return { warning: 'the stored file is not in the answer' };
    return {};
  };
  const firstInstance = instanceRefs[0]!;
  const firstSeries = seriesRefs[0]!.series;
  const seriesBytes = firstSeries.instances.reduce((sum, instance) => sum + instance.bytes, 0);

  return [
    {
      name: 'QIDO-RS studies PatientName=Abc*',
      resource: (i) => `/studies?PatientName=${encodeURIComponent(at(prefixes, i))}*`,
      accept: DICOM_JSON,
      check: json(studiesMatching(prefixes[0]!)),
    },
    {
      name: 'QIDO-RS studies StudyDate=one year',
      resource: (i) => `/studies?StudyDate=${at(years, i)}0101-${at(years, i)}1231`,
      accept: DICOM_JSON,
      check: json(studiesIn(years[0]!)),
    },
    {
      name: 'QIDO-RS studies OHIF list (limit=101, includefield)',
      resource: () => OHIF_STUDY_LIST,
      accept: DICOM_JSON,
      check: json(Math.min(101, stored.length)),
    },
    {
      name: 'QIDO-RS series of a study',
      resource: (i) => `/studies/${at(corpus.studies, i).uid}/series`,
      accept: DICOM_JSON,
      check: json(corpus.studies[0]!.series.length),
    },
    {
      name: 'QIDO-RS instances of a series',
      resource: (i) => `${seriesPath(at(seriesRefs, i).study, at(seriesRefs, i).series.uid)}/instances`,
      accept: DICOM_JSON,
      check: json(firstSeries.instances.length),
    },
    {
      name: 'WADO-RS retrieve instance (transfer-syntax=*)',
      resource: (i) => `${seriesPath(at(instanceRefs, i).study, at(instanceRefs, i).series)}/instances/${at(instanceRefs, i).instance.uid}`,
      accept: MULTIPART_DICOM,
      throughput: true,
      check: multipart(firstInstance.instance.bytes, fs.readFileSync(firstInstance.instance.file)),
    },
    {
      name: 'WADO-RS retrieve series (transfer-syntax=*)',
      resource: (i) => seriesPath(at(seriesRefs, i).study, at(seriesRefs, i).series.uid),
      accept: MULTIPART_DICOM,
      throughput: true,
      check: multipart(seriesBytes),
    },
    {
      name: 'WADO-RS series metadata',
      resource: (i) => `${seriesPath(at(seriesRefs, i).study, at(seriesRefs, i).series.uid)}/metadata`,
      accept: DICOM_JSON,
      check: json(firstSeries.instances.length),
    },
    {
      name: 'WADO-RS frame 1 (octet-stream, transfer-syntax=*)',
      resource: (i) => `${seriesPath(at(instanceRefs, i).study, at(instanceRefs, i).series)}/instances/${at(instanceRefs, i).instance.uid}/frames/1`,
      accept: MULTIPART_FRAMES,
      throughput: true,
      check: multipart(1),
    },
    {
      name: 'WADO-RS rendered instance (image/jpeg)',
      resource: (i) => `${seriesPath(at(instanceRefs, i).study, at(instanceRefs, i).series)}/instances/${at(instanceRefs, i).instance.uid}/rendered`,
      accept: 'image/jpeg',
      throughput: true,
      check: (answer) => (answer.contentType.startsWith('image/jpeg') && answer.body![0] === 0xff && answer.body![1] === 0xd8
        ? {} : { problem: `not a JPEG (${answer.contentType})` }),
    },
  ];
}

/** Checks the first answer, then measures; a route that is not there (or answers wrongly) is skipped with the reason. */
async function measureRead(client: DicomwebHttp, target: DicomwebTarget, read: ReadMeasurement, options: DicomwebBenchOptions): Promise<Measurement | Skipped> {
  const headers = { accept: read.accept };
  const first = await client.request(read.resource(0), { headers, keepBody: true });
  if (first.status === 404) return skip(target, read.name, `route not available (404: ${first.body!.toString('utf8', 0, 200)})`);
  if (first.status !== 200) return skip(target, read.name, `answered ${first.status}: ${first.body!.toString('utf8', 0, 300)}`);
  const { problem, warning } = read.check(first);
  if (problem) return skip(target, read.name, problem);
  let next = 0;
  return measure(read.name, async () => {
    const answer = expectStatus(await client.request(read.resource(next++), { headers }), 200);
    return read.throughput ? { bytes: answer.bytes } : {};
  }, { concurrency: options.concurrency, durationMs: options.durationMs, warmupMs: options.warmupMs, labels: { server: target.server, ...(warning ? { warning } : {}) } });
}
