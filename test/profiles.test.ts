// profiles/: every CodeSystem is valid FHIR and holds exactly the codes of the mapping that
// writes them; the extension definitions are valid and say where they apply.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ENCOUNTER_TYPE } from '../src/fhir/mappings/encounter.ts';
import { BODY_PART_SYSTEM, TOOTH_EXTENSION } from '../src/fhir/mappings/imaging-study.ts';
import { LOCATION_TYPE } from '../src/fhir/mappings/location.ts';
import { PERIO_CODES, PERIO_SITE, PERIO_SITE_EXTENSION } from '../src/fhir/mappings/observation.ts';
import { PAYER_TYPE, TENANT_TYPE } from '../src/fhir/mappings/organization.ts';
import { validateResource } from '../src/fhir/validation.ts';

const PROFILES = path.join(import.meta.dirname, '../profiles');
const load = (file: string) => JSON.parse(fs.readFileSync(path.join(PROFILES, file), 'utf8'));

const CODE_SYSTEMS: Record<string, readonly string[]> = {
  'CodeSystem-encounter-type.json': ENCOUNTER_TYPE.codes,
  'CodeSystem-location-type.json': LOCATION_TYPE.codes,
  'CodeSystem-perio.json': PERIO_CODES,
  'CodeSystem-perio-site.json': PERIO_SITE.codes,
  'CodeSystem-tenant-type.json': TENANT_TYPE.codes,
  'CodeSystem-payer-type.json': PAYER_TYPE.codes,
};

describe('profiles/', () => {
  it('every CodeSystem file is one a mapping writes', () => {
    const files = fs.readdirSync(PROFILES).filter((file) => file.startsWith('CodeSystem-'));
    assert.deepEqual(files.sort(), [...Object.keys(CODE_SYSTEMS), 'CodeSystem-dicom-body-part-examined.json'].sort());
  });

  it('CodeSystem-dicom-body-part-examined.json is the valid, open-ended system of ImagingStudy.series.bodySite', () => {
    const codeSystem = load('CodeSystem-dicom-body-part-examined.json');
    validateResource(codeSystem);
    assert.equal(codeSystem.url, BODY_PART_SYSTEM);
    assert.equal(codeSystem.content, 'not-present', 'its codes are whatever devices send');
  });

  it('StructureDefinition-imaging-instance-tooth.json is a valid, repeatable extension on ImagingStudy.series.instance', () => {
    const definition = load('StructureDefinition-imaging-instance-tooth.json');
    validateResource(definition);
    assert.equal(definition.url, TOOTH_EXTENSION);
    assert.deepEqual(definition.context, [{ type: 'element', expression: 'ImagingStudy.series.instance' }]);
    const root = definition.differential.element.find((element: { id: string }) => element.id === 'Extension');
    assert.equal(root.max, '*', 'an instance may depict several teeth');
  });

  for (const [file, codes] of Object.entries(CODE_SYSTEMS)) {
    it(`${file} is a valid CodeSystem with exactly the codes of the mapping`, () => {
      const codeSystem = load(file);
      validateResource(codeSystem);
      assert.equal(codeSystem.url, `https://cusp.dental/fhir/CodeSystem/${codeSystem.id}`);
      assert.equal(codeSystem.content, 'complete');
      assert.deepEqual(codeSystem.concept.map((c: { code: string }) => c.code).sort(), [...codes].sort());
      assert.equal(codeSystem.count, codes.length);
    });
  }

  it('StructureDefinition-perio-site.json is a valid extension on Observation.bodySite', () => {
    const definition = load('StructureDefinition-perio-site.json');
    validateResource(definition);
    assert.equal(definition.url, PERIO_SITE_EXTENSION);
    assert.deepEqual(definition.context, [{ type: 'element', expression: 'Observation.bodySite' }]);
  });
});
