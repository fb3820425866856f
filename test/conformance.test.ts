import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { conformanceDocuments } from '../src/fhir/conformance.ts';

describe('conformance documents', () => {
  it('conformance/ holds exactly what the code generates (run `npm run conformance` after a change)', () => {
    for (const [name, generated] of Object.entries(conformanceDocuments())) {
      const committed = JSON.parse(fs.readFileSync(path.join(import.meta.dirname, '../conformance', name), 'utf8'));
      assert.deepEqual(committed, generated, name);
    }
  });
});
