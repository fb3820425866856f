// Orthanc (Debian's orthanc and orthanc-dicomweb packages) as the bench measures it, side by side
// with Cusp: a child process with a temporary configuration, its storage and SQLite index in a
// temporary folder, no authentication on 127.0.0.1, and Orthanc's defaults for everything else
// (SyncStorageArea: files are fsynced like Cusp's blobs; a 128 MB in-memory storage cache).
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { freePort, startChild } from './dicomweb-child.ts';
import type { DicomwebTarget } from './dicomweb-http.ts';

const PLUGIN_CANDIDATES = ['/usr/share/orthanc/plugins/libOrthancDicomWeb.so', '/usr/lib/orthanc/libOrthancDicomWeb.so'];

/** The Orthanc executable and its DICOMweb plugin, or why they cannot be used. */
export function findOrthanc(): { executable: string; plugin: string } | { missing: string } {
  let executable: string;
  try {
    executable = execFileSync('sh', ['-c', 'command -v Orthanc'], { encoding: 'utf8' }).trim();
  } catch {
    return { missing: 'Orthanc is not installed (apt-get install orthanc orthanc-dicomweb)' };
  }
  const plugin = PLUGIN_CANDIDATES.find((candidate) => fs.existsSync(candidate));
  if (!plugin) return { missing: 'the Orthanc DICOMweb plugin is not installed (apt-get install orthanc-dicomweb)' };
  return { executable, plugin };
}

export async function startOrthanc(options: { workDir: string; executable: string; plugin: string }): Promise<DicomwebTarget> {
  const port = await freePort();
  const home = path.join(options.workDir, 'orthanc');
  fs.mkdirSync(path.join(home, 'storage'), { recursive: true });
  const configuration = {
    Name: 'cusp-bench',
    StorageDirectory: path.join(home, 'storage'),
    IndexDirectory: path.join(home, 'storage'),
    Plugins: [options.plugin],
    HttpPort: port,
    DicomServerEnabled: false,
    RemoteAccessAllowed: false,
    AuthenticationEnabled: false,
    OrthancExplorerEnabled: false,
    DicomWeb: { Enable: true, Root: '/dicom-web/', EnableWado: true, Host: `127.0.0.1:${port}`, Ssl: false },
  };
  const configurationFile = path.join(home, 'orthanc.json');
  fs.writeFileSync(configurationFile, JSON.stringify(configuration, null, 2));
  const child = await startChild({
    name: 'orthanc', command: options.executable, args: [configurationFile], cwd: home, env: process.env,
    logFile: path.join(options.workDir, 'orthanc.log'), port, readyPath: '/system',
  });
  return { server: 'orthanc', port, root: '/dicom-web', headers: {}, stop: () => child.stop() };
}

/** Orthanc's version and its DICOMweb plugin's, as it reports them. */
export async function orthancVersions(target: DicomwebTarget): Promise<string> {
  const system = await (await fetch(`http://127.0.0.1:${target.port}/system`)).json() as { Version?: string };
  const plugin = await (await fetch(`http://127.0.0.1:${target.port}/plugins/dicom-web`)).json() as { Version?: string };
  return `Orthanc ${system.Version ?? '?'}, DICOMweb plugin ${plugin.Version ?? '?'}`;
}
