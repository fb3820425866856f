import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { conformanceDocuments } from '../src/fhir/conformance.ts';
import { validateResource } from '../src/fhir/validation.ts';

describe('conformance documents', () => {
  it('conformance/ holds exactly what the code generates (run `npm run conformance` after a change)', () => {
    for (const [name, generated] of Object.entries(conformanceDocuments())) {
      const committed = JSON.parse(fs.readFileSync(path.join(import.meta.dirname, '../conformance', name), 'utf8'));
      assert.deepEqual(committed, generated, name);
    }
  });

  it('they are valid FHIR R4 resources', () => {
    for (const document of Object.values(conformanceDocuments())) validateResource(document as Record<string, unknown>);
  });

  it('every search parameter of the CapabilityStatement has its SearchParameter, and no other', () => {
    const { 'CapabilityStatement.json': statement, 'SearchParameters.json': parameters } = conformanceDocuments() as Record<string, any>;
    const declared = new Set<string>(statement.rest[0].resource.flatMap((r: { searchParam: { definition: string }[] }) => r.searchParam.map((p) => p.definition)));
    const published = new Set<string>(parameters.entry.map((e: { resource: { url: string } }) => e.resource.url));
    assert.deepEqual([...published].sort(), [...declared].sort());
  });
});
