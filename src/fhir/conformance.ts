// The conformance documents published in conformance/, generated from the running code so that
// they list exactly what is served: the CapabilityStatement, and every supported search
// parameter as a SearchParameter resource. The base URL is a placeholder for the deployment's.
import { createRequire } from 'node:module';
import { capabilityStatement } from './capability-statement.ts';
import type { AnyMapping } from './mapping.ts';
import { MAPPINGS } from './mappings/index.ts';
import { declarationsOf, modifierCodes, searchParameterUrl } from './search/compile.ts';

const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };
export const CONFORMANCE_BASE_URL = 'https://cusp.example';


function searchParameters(mappings: AnyMapping[]) {
  const resources = new Map<string, Record<string, unknown>>();
  const lookup = (type: string) => mappings.find((mapping) => mapping.type === type);
  for (const mapping of mappings) {
    for (const [name, declaration] of Object.entries(declarationsOf(mapping))) {
      const url = searchParameterUrl(mapping.type, name);
      const existing = resources.get(url);
      if (existing) {
        // One parameter for several types: its expression is the union of theirs, its modifiers
        // those that work on every one.
        (existing.base as string[]).push(mapping.type);
        existing.expression = `${String(existing.expression)} | ${declaration.expression}`;
        existing.modifier = (existing.modifier as string[]).filter((code) => modifierCodes(declaration, lookup).includes(code));
        continue;
      }
      resources.set(url, {
        resourceType: 'SearchParameter',
        url,
        name,
        status: 'active',
        description: declaration.description,
        code: name,
        base: [mapping.type],
        type: declaration.type,
        expression: declaration.expression,
        ...(declaration.type === 'reference' ? { target: declaration.targets } : {}),
        modifier: modifierCodes(declaration, lookup),
        ...(declaration.type === 'reference' ? { chain: ['*'] } : {}),
      });
    }
  }
  return [...resources.values()];
}

export function conformanceDocuments(): Record<string, object> {
  const mappings = [...MAPPINGS.values()];
  const { date: _date, ...statement } = capabilityStatement({ baseUrl: CONFORMANCE_BASE_URL, version, mappings });
  return {
    'CapabilityStatement.json': statement,
    'SearchParameters.json': {
      resourceType: 'Bundle',
      type: 'collection',
      entry: searchParameters(mappings).map((resource) => ({ fullUrl: resource.url, resource })),
    },
  };
}
