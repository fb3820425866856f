// The DICOMweb bench corpus: synthetic dental studies made by the shared generator
// (../shared/dicom-samples/generate.mjs) at the first run with given options and kept in the
// temporary folder for the next ones, indexed by UID so that every request can name what it asks.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import dicomParser from 'dicom-parser';

const GENERATOR = path.join(import.meta.dirname, '../../shared/dicom-samples/generate.mjs');
const REPOSITORY = path.join(import.meta.dirname, '..');

export interface CorpusOptions {
  directory: string;
  patients: number;
  studiesPerPatient: number;
  /** Matrix scale of the generator (1 = real dental sizes: 2.6 MB bitewings, 8 MB panoramics). */
  scale: number;
  seed: number;
  /** Relative weights of the study types (the generator's --mix); io=2,px=1,ct=1,xc=1 when not given. */
  mix?: string;
  /** Slices of each CBCT series (the generator's default, 32, when not given). */
  ctSlices?: number;
}

export interface CorpusInstance {
  uid: string;
  file: string;
  bytes: number;
}

export interface CorpusSeries {
  uid: string;
  instances: CorpusInstance[];
}

export interface CorpusStudy {
  uid: string;
  patientName: string;
  /** YYYYMMDD */
  date: string;
  series: CorpusSeries[];
}

export interface Corpus {
  options: CorpusOptions;
  studies: CorpusStudy[];
  series: CorpusSeries[];
  instances: CorpusInstance[];
  bytes: number;
}

interface Manifest {
  studies: { studyInstanceUID: string; patientName: string; studyDate: string }[];
}

/** The folder of the corpus these options make: the generator's output depends on them only. */
export function corpusDirectory(parent: string, options: Omit<CorpusOptions, 'directory'>): string {
  const variant = `${options.mix ? `-mix${options.mix.replace(/[=,]/g, '')}` : ''}${options.ctSlices ? `-ct${options.ctSlices}` : ''}`;
  return path.join(parent, `cusp-bench-corpus-seed${options.seed}-${options.patients}x${options.studiesPerPatient}-scale${options.scale}${variant}`);
}

/** Generates the corpus unless an earlier run left it complete in `options.directory`. */
export async function generateCorpus(options: CorpusOptions): Promise<Corpus> {
  if (!fs.existsSync(path.join(options.directory, 'manifest.json'))) {
    const partial = `${options.directory}.partial-${process.pid}`;
    fs.rmSync(partial, { recursive: true, force: true });
    await promisify(execFile)(process.execPath, [
      GENERATOR, '--out', partial, '--seed', String(options.seed), '--patients', String(options.patients),
      '--studies-per-patient', String(options.studiesPerPatient), '--mix', options.mix ?? 'io=2,px=1,ct=1,xc=1', '--scale', String(options.scale),
      ...(options.ctSlices ? ['--ct-slices', String(options.ctSlices)] : []), '--quiet',
    ], { cwd: REPOSITORY, env: { ...process.env, DCMJS_DIR: REPOSITORY } });
    fs.rmSync(options.directory, { recursive: true, force: true });
    fs.renameSync(partial, options.directory);
  }
  return indexCorpus(options);
}

/** Reads each file's UIDs (the header only) and groups the files by study and series, in manifest order. */
function indexCorpus(options: CorpusOptions): Corpus {
  const manifest = JSON.parse(fs.readFileSync(path.join(options.directory, 'manifest.json'), 'utf8')) as Manifest;
  const studies = new Map<string, CorpusStudy>(manifest.studies.map((study) => [study.studyInstanceUID, {
    uid: study.studyInstanceUID, patientName: study.patientName, date: study.studyDate, series: [],
  }]));
  const files = fs.readdirSync(options.directory, { recursive: true, encoding: 'utf8' }).filter((name) => name.endsWith('.dcm')).sort();
  for (const name of files) {
    const file = path.join(options.directory, name);
    const bytes = fs.readFileSync(file);
    const header = dicomParser.parseDicom(bytes, { untilTag: 'x7fe00010' });
    const study = studies.get(header.string('x0020000d') ?? '');
    if (!study) throw new Error(`${file}: study not in the manifest`);
    const seriesUid = header.string('x0020000e') ?? '';
    let series = study.series.find((candidate) => candidate.uid === seriesUid);
    if (!series) study.series.push(series = { uid: seriesUid, instances: [] });
    series.instances.push({ uid: header.string('x00080018') ?? '', file, bytes: bytes.length });
  }
  const allStudies = [...studies.values()];
  const series = allStudies.flatMap((study) => study.series);
  const instances = series.flatMap((one) => one.instances);
  return { options, studies: allStudies, series, instances, bytes: instances.reduce((sum, instance) => sum + instance.bytes, 0) };
}
