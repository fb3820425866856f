// The conformance documents published in conformance/, generated from the running code so that
// they list exactly what is served. The base URL is a placeholder for the deployment's own.
import { createRequire } from 'node:module';
import { capabilityStatement } from './capability-statement.ts';
import { MAPPINGS } from './mappings/index.ts';

const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };
export const CONFORMANCE_BASE_URL = 'https://cusp.example';

export function conformanceDocuments(): Record<string, object> {
  const { date: _date, ...statement } = capabilityStatement({ baseUrl: CONFORMANCE_BASE_URL, version, mappings: MAPPINGS.values() });
  return { 'CapabilityStatement.json': statement };
}
