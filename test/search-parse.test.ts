// Parsing FHIR R4 search requests into ParsedSearch (https://hl7.org/fhir/R4/search.html); no database.
import assert from 'node:assert/strict';
import { parseDateRange } from '../src/fhir/search/dates.ts';
import { parseSearch } from '../src/fhir/search/parse.ts';
import { SearchError, type ParamRegistry, type ParsedSearch, type SearchParamDefinition, type SearchValue } from '../src/fhir/search/types.ts';

function parametersOf(definitions: SearchParamDefinition[]): ReadonlyMap<string, SearchParamDefinition> {
  return new Map(definitions.map((definition) => [definition.name, definition]));
}

const PARAMETERS: Record<string, ReadonlyMap<string, SearchParamDefinition>> = {
  Patient: parametersOf([
    { name: 'name', type: 'string' },
    { name: 'family', type: 'string' },
    { name: 'birthdate', type: 'date' },
    { name: 'identifier', type: 'token' },
    { name: 'gender', type: 'token' },
    { name: 'general-practitioner', type: 'reference', targets: ['Practitioner', 'Organization'] },
    { name: 'organization', type: 'reference', targets: ['Organization'] },
    { name: '_id', type: 'token' },
    { name: '_lastUpdated', type: 'date' },
  ]),
  Observation: parametersOf([
    { name: 'code', type: 'token' },
    { name: 'value-quantity', type: 'quantity' },
    { name: 'subject', type: 'reference', targets: ['Patient', 'Group'] },
    { name: 'patient', type: 'reference', targets: ['Patient'] },
    { name: 'date', type: 'date' },
    { name: 'probability', type: 'number' },
  ]),
  Practitioner: parametersOf([{ name: 'name', type: 'string' }]),
  Organization: parametersOf([{ name: 'name', type: 'string' }]),
};

const registry: ParamRegistry = (resourceType) => PARAMETERS[resourceType];

function parse(query: string, resourceType = 'Patient', options?: { maxCount?: number }): ParsedSearch {
  return parseSearch(resourceType, new URLSearchParams(query), registry, options);
}

/** The OR'ed values of the only criterion. */
function valuesOf(query: string, resourceType = 'Patient'): SearchValue[] {
  const search = parse(query, resourceType);
  assert.equal(search.criteria.length, 1, JSON.stringify(search.unknown));
  return search.criteria[0]?.values ?? [];
}

function assertSearchError(query: string, parameter: string, resourceType = 'Patient'): void {
  assert.throws(
    () => parse(query, resourceType),
    (error: unknown) => error instanceof SearchError && error.parameter === parameter,
    `expected a SearchError for ${parameter}`,
  );
}

function assertUnknown(query: string, name: string, resourceType = 'Patient'): ParsedSearch {
  const search = parse(query, resourceType);
  assert.ok(
    search.unknown.some((entry) => entry.name === name && entry.reason.length > 0),
    `expected ${name} in unknown, got ${JSON.stringify(search.unknown)}`,
  );
  return search;
}

function dateValue(prefix: string, start: string, end: string): SearchValue {
  return { type: 'date', prefix, range: { start, end } } as SearchValue;
}

describe('FHIR search parsing', () => {
  describe('parameter names and unknown parameters', () => {
    it('reports a parameter the resource does not support in unknown, with a reason', () => {
      const search = assertUnknown('shoe-size=42', 'shoe-size');
      assert.deepEqual(search.criteria, []);
    });

    it('reports an unsupported modifier in unknown rather than dropping it', () => {
      assertUnknown('name:sounds-like=peter', 'name:sounds-like');
      assertUnknown('identifier:above=x', 'identifier:above');
      assertUnknown('name:exact:contains=peter', 'name:exact:contains');
    });

    it('keeps supported parameters next to unknown ones', () => {
      const search = parse('name=peter&shoe-size=42');
      assert.equal(search.criteria.length, 1);
      assert.equal(search.criteria[0]?.name, 'name');
      assert.equal(search.unknown.length, 1);
    });

    it('reports unregistered _ parameters (_tag, _profile, _text, _filter, made-up ones) as unknown', () => {
      for (const name of ['_tag', '_profile', '_security', '_text', '_content', '_list', '_query', '_filter', '_containedType', '_contained', '_madeUp']) {
        assertUnknown(`${name}=x`, name);
      }
    });

    it('treats _id and _lastUpdated as ordinary token and date parameters when registered', () => {
      const search = parse('_id=abc&_lastUpdated=gt2024-01-01');
      assert.deepEqual(search.criteria[0]?.values, [{ type: 'token', code: 'abc' }]);
      assert.deepEqual(search.criteria[1]?.values, [dateValue('gt', '2024-01-01T00:00:00.000Z', '2024-01-02T00:00:00.000Z')]);
      assertUnknown('_lastUpdated=2024', '_lastUpdated', 'Organization');
    });

    it('Parameters that are empty SHALL be ignored', () => {
      const search = parse('name=&birthdate=&_count=&_sort=&shoe-size=');
      assert.deepEqual(search, { resourceType: 'Patient', criteria: [], has: [], sort: [], include: [], revinclude: [], unknown: [] });
    });

    it('refuses a resource type the registry does not know', () => {
      assert.throws(() => parse('name=x', 'Spaceship'), SearchError);
    });
  });

  describe('OR and AND', () => {
    it('a comma separates values that are OR-ed in one criterion', () => {
      assert.deepEqual(valuesOf('gender=male,female'), [
        { type: 'token', code: 'male' },
        { type: 'token', code: 'female' },
      ]);
    });

    it('a repeated parameter gives separate criteria that are AND-ed', () => {
      const search = parse('birthdate=ge2000&birthdate=lt2010');
      assert.equal(search.criteria.length, 2);
      assert.equal((search.criteria[0]?.values[0] as { prefix: string }).prefix, 'ge');
      assert.equal((search.criteria[1]?.values[0] as { prefix: string }).prefix, 'lt');
    });

    it('an empty value between commas is malformed', () => {
      assertSearchError('gender=male,,female', 'gender');
    });
  });

  describe('escaping', () => {
    it('\\, is a literal comma, not a separator', () => {
      assert.deepEqual(valuesOf('name=Smith\\,John'), [{ type: 'string', value: 'Smith,John' }]);
    });

    it('\\| is a literal pipe, not the token system separator', () => {
      assert.deepEqual(valuesOf('identifier=http://x.org\\|a|b'), [{ type: 'token', system: 'http://x.org|a', code: 'b' }]);
    });

    it('\\$ and \\\\ are a literal dollar and backslash', () => {
      assert.deepEqual(valuesOf('name=a\\$b\\\\c'), [{ type: 'string', value: 'a$b\\c' }]);
    });

    it('an escaped backslash before a comma does not escape the comma', () => {
      assert.deepEqual(valuesOf('name=a\\\\,b'), [
        { type: 'string', value: 'a\\' },
        { type: 'string', value: 'b' },
      ]);
    });

    it('an unescaped pipe in a token is still a separator (two of them are malformed)', () => {
      assertSearchError('identifier=a|b|c', 'identifier');
    });
  });

  describe(':missing', () => {
    it(':missing=true and :missing=false apply to every parameter type', () => {
      for (const name of ['name', 'identifier', 'birthdate', 'organization']) {
        assert.deepEqual(parse(`${name}:missing=true`).criteria[0], {
          name,
          definition: PARAMETERS.Patient?.get(name),
          modifier: 'missing',
          values: [{ type: 'missing', missing: true }],
        });
      }
      assert.deepEqual(valuesOf('value-quantity:missing=false', 'Observation'), [{ type: 'missing', missing: false }]);
      assert.deepEqual(valuesOf('probability:missing=false', 'Observation'), [{ type: 'missing', missing: false }]);
    });

    it('any other :missing value is malformed', () => {
      assertSearchError('name:missing=yes', 'name:missing');
      assertSearchError('name:missing=true,false', 'name:missing');
    });
  });

  describe('string', () => {
    it('keeps the value as given (case and accent folding is left to the compiler)', () => {
      const search = parse('name=Zoë%20Ánh');
      assert.deepEqual(search.criteria[0], {
        name: 'name',
        definition: { name: 'name', type: 'string' },
        values: [{ type: 'string', value: 'Zoë Ánh' }],
      });
    });

    it('supports :exact and :contains', () => {
      assert.equal(parse('name:exact=Eve').criteria[0]?.modifier, 'exact');
      assert.equal(parse('name:contains=eve').criteria[0]?.modifier, 'contains');
    });

    it('token-only modifiers are not supported on strings', () => {
      assertUnknown('name:not=eve', 'name:not');
    });
  });

  describe('token', () => {
    it('[code] matches the code in any system', () => {
      assert.deepEqual(valuesOf('gender=female'), [{ type: 'token', code: 'female' }]);
    });

    it('[system]|[code] matches the code in that system', () => {
      assert.deepEqual(valuesOf('code=http://loinc.org|1234-5', 'Observation'), [{ type: 'token', system: 'http://loinc.org', code: '1234-5' }]);
    });

    it('|[code] matches the code with no system', () => {
      assert.deepEqual(valuesOf('identifier=|123'), [{ type: 'token', system: '', code: '123' }]);
    });

    it('[system]| matches any code in that system', () => {
      assert.deepEqual(valuesOf('identifier=http://nhs.uk/nhs-number|'), [{ type: 'token', system: 'http://nhs.uk/nhs-number' }]);
    });

    it('a bare | has neither system nor code and is malformed', () => {
      assertSearchError('identifier=|', 'identifier');
    });

    it(':not keeps the token form', () => {
      const search = parse('gender:not=male');
      assert.equal(search.criteria[0]?.modifier, 'not');
      assert.deepEqual(search.criteria[0]?.values, [{ type: 'token', code: 'male' }]);
    });

    it(':text searches the display text, so the value stays a whole string', () => {
      const search = parse('code:text=blood|pressure', 'Observation');
      assert.equal(search.criteria[0]?.modifier, 'text');
      assert.deepEqual(search.criteria[0]?.values, [{ type: 'string', value: 'blood|pressure' }]);
    });

    it(':of-type takes [system]|[code]|[value] for Identifier.type and Identifier.value', () => {
      assert.deepEqual(valuesOf('identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|446053'), [
        { type: 'token', system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR', value: '446053' },
      ]);
    });

    it(':of-type with a part missing is malformed (all three parts must be present)', () => {
      assertSearchError('identifier:of-type=MR|446053', 'identifier:of-type');
      assertSearchError('identifier:of-type=|MR|446053', 'identifier:of-type');
    });

    it(':above, :below, :in and :not-in are not supported yet', () => {
      for (const modifier of ['above', 'below', 'in', 'not-in']) assertUnknown(`code:${modifier}=x`, `code:${modifier}`, 'Observation');
    });
  });

  describe('date', () => {
    it('a year is the whole year', () => {
      assert.deepEqual(valuesOf('birthdate=2024'), [dateValue('eq', '2024-01-01T00:00:00.000Z', '2025-01-01T00:00:00.000Z')]);
    });

    it('a month is the whole month (leap February included)', () => {
      assert.deepEqual(valuesOf('birthdate=2024-02'), [dateValue('eq', '2024-02-01T00:00:00.000Z', '2024-03-01T00:00:00.000Z')]);
      assert.deepEqual(valuesOf('birthdate=2024-12'), [dateValue('eq', '2024-12-01T00:00:00.000Z', '2025-01-01T00:00:00.000Z')]);
    });

    it('a day is the whole day', () => {
      assert.deepEqual(valuesOf('birthdate=2024-02-29'), [dateValue('eq', '2024-02-29T00:00:00.000Z', '2024-03-01T00:00:00.000Z')]);
    });

    it('hours and minutes are a one-minute range', () => {
      assert.deepEqual(valuesOf('birthdate=2024-03-10T09:30Z'), [dateValue('eq', '2024-03-10T09:30:00.000Z', '2024-03-10T09:31:00.000Z')]);
    });

    it('seconds are a one-second range', () => {
      assert.deepEqual(valuesOf('birthdate=2024-03-10T09:30:15Z'), [dateValue('eq', '2024-03-10T09:30:15.000Z', '2024-03-10T09:30:16.000Z')]);
    });

    it('milliseconds are a one-millisecond range', () => {
      assert.deepEqual(valuesOf('birthdate=2024-03-10T09:30:15.250Z'), [dateValue('eq', '2024-03-10T09:30:15.250Z', '2024-03-10T09:30:15.251Z')]);
    });

    it('a time zone offset is converted to UTC', () => {
      assert.deepEqual(valuesOf('birthdate=2024-03-10T01:30:00%2B02:00'), [dateValue('eq', '2024-03-09T23:30:00.000Z', '2024-03-09T23:30:01.000Z')]);
      assert.deepEqual(valuesOf('birthdate=2024-03-10T23:30:00-05:30'), [dateValue('eq', '2024-03-11T05:00:00.000Z', '2024-03-11T05:00:01.000Z')]);
    });

    it('an unencoded + in the offset (decoded to a space) is read as +', () => {
      assert.deepEqual(valuesOf('birthdate=2024-03-10T01:30:00+02:00'), [dateValue('eq', '2024-03-09T23:30:00.000Z', '2024-03-09T23:30:01.000Z')]);
    });

    it('a dateTime with hours but no time zone is taken as UTC', () => {
      assert.deepEqual(valuesOf('birthdate=2024-03-10T09:30:15'), [dateValue('eq', '2024-03-10T09:30:15.000Z', '2024-03-10T09:30:16.000Z')]);
    });

    it('every prefix is accepted and eq is the default', () => {
      for (const prefix of ['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap']) {
        assert.deepEqual(valuesOf(`birthdate=${prefix}2024-01-01`), [dateValue(prefix, '2024-01-01T00:00:00.000Z', '2024-01-02T00:00:00.000Z')]);
      }
    });

    it('an unknown prefix is malformed', () => {
      assertSearchError('birthdate=xx2024', 'birthdate');
      assertSearchError('birthdate=GE2024', 'birthdate');
    });

    it('impossible dates are malformed: 30 February, month 13, hour 24, offset beyond 14 hours', () => {
      for (const value of ['2024-02-30', '2023-02-29', '2024-13', '2024-00-10', '2024-01-01T24:00Z', '2024-01-01T10:60Z', '2024-01-01T10:00:00+15:00', '0000']) {
        assertSearchError(`birthdate=${encodeURIComponent(value)}`, 'birthdate');
      }
    });

    it('other shapes are malformed: a time without minutes, a zone on a date, free text', () => {
      for (const value of ['2024-01-01T10', '2024-01-01Z', '24-01-01', 'yesterday', '2024/01/01']) {
        assertSearchError(`birthdate=${encodeURIComponent(value)}`, 'birthdate');
      }
    });
  });

  describe('parseDateRange', () => {
    it('gives the range for FHIR date and dateTime values at their precision', () => {
      assert.deepEqual(parseDateRange('2024'), { start: '2024-01-01T00:00:00.000Z', end: '2025-01-01T00:00:00.000Z' });
      assert.deepEqual(parseDateRange('2024-01-01T10:00:05.1Z'), { start: '2024-01-01T10:00:05.100Z', end: '2024-01-01T10:00:05.200Z' });
    });

    it('truncates fractions finer than milliseconds to the millisecond that contains them', () => {
      assert.deepEqual(parseDateRange('2024-01-01T10:00:05.123456Z'), { start: '2024-01-01T10:00:05.123Z', end: '2024-01-01T10:00:05.124Z' });
    });

    it('handles years below 100 and the end of 9999', () => {
      assert.deepEqual(parseDateRange('0050'), { start: '0050-01-01T00:00:00.000Z', end: '0051-01-01T00:00:00.000Z' });
      assert.deepEqual(parseDateRange('9999-12'), { start: '9999-12-01T00:00:00.000Z', end: '10000-01-01T00:00:00.000Z' });
    });

    it('throws a RangeError for impossible dates', () => {
      assert.throws(() => parseDateRange('2024-02-30'), RangeError);
    });
  });

  describe('number', () => {
    it('100 means 100 to 3 significant figures: [99.5, 100.5)', () => {
      assert.deepEqual(valuesOf('probability=100', 'Observation'), [{ type: 'number', prefix: 'eq', value: 100, range: { low: 99.5, high: 100.5 } }]);
    });

    it('100.00 means 100 to 5 significant figures: [99.995, 100.005)', () => {
      assert.deepEqual(valuesOf('probability=100.00', 'Observation'), [{ type: 'number', prefix: 'eq', value: 100, range: { low: 99.995, high: 100.005 } }]);
    });

    it('1e2 means 100 to 1 significant figure: half a unit of its last digit either side', () => {
      assert.deepEqual(valuesOf('probability=1e2', 'Observation'), [{ type: 'number', prefix: 'eq', value: 100, range: { low: 50, high: 150 } }]);
      assert.deepEqual(valuesOf('probability=1.00e2', 'Observation'), [{ type: 'number', prefix: 'eq', value: 100, range: { low: 99.5, high: 100.5 } }]);
    });

    it('decimals and negative numbers keep their precision', () => {
      assert.deepEqual(valuesOf('probability=0.8', 'Observation'), [{ type: 'number', prefix: 'eq', value: 0.8, range: { low: 0.75, high: 0.85 } }]);
      assert.deepEqual(valuesOf('probability=-5', 'Observation'), [{ type: 'number', prefix: 'eq', value: -5, range: { low: -5.5, high: -4.5 } }]);
    });

    it('accepts the prefixes', () => {
      const [value] = valuesOf('probability=lt0.5', 'Observation');
      assert.equal(value?.type === 'number' && value.prefix, 'lt');
    });

    it('anything but a decimal is malformed', () => {
      for (const value of ['abc', '1,5x', '.5', '1.', '0x10', 'lt', '1e9999']) assertSearchError(`probability=${value}`, 'probability', 'Observation');
    });
  });

  describe('quantity', () => {
    it('[prefix][number]|[system]|[code]', () => {
      assert.deepEqual(valuesOf('value-quantity=le5.4|http://unitsofmeasure.org|mg', 'Observation'), [
        { type: 'quantity', prefix: 'le', value: 5.4, range: { low: 5.35, high: 5.45 }, system: 'http://unitsofmeasure.org', code: 'mg' },
      ]);
    });

    it('[number]||[code] matches the code in any system', () => {
      assert.deepEqual(valuesOf('value-quantity=5.4||mg', 'Observation'), [
        { type: 'quantity', prefix: 'eq', value: 5.4, range: { low: 5.35, high: 5.45 }, code: 'mg' },
      ]);
    });

    it('[number] alone matches any unit', () => {
      assert.deepEqual(valuesOf('value-quantity=5', 'Observation'), [{ type: 'quantity', prefix: 'eq', value: 5, range: { low: 4.5, high: 5.5 } }]);
    });

    it('two parts, a system without a code, or a bad number are malformed', () => {
      for (const value of ['5.4|mg', '5.4|http://unitsofmeasure.org|', 'five||mg', '5|a|b|c']) {
        assertSearchError(`value-quantity=${encodeURIComponent(value)}`, 'value-quantity', 'Observation');
      }
    });
  });

  describe('reference', () => {
    it('[type]/[id]', () => {
      assert.deepEqual(valuesOf('subject=Patient/123', 'Observation'), [{ type: 'reference', resourceType: 'Patient', id: '123' }]);
    });

    it('[id] alone', () => {
      assert.deepEqual(valuesOf('subject=123', 'Observation'), [{ type: 'reference', id: '123' }]);
    });

    it('[type]/[id]/_history/[version]', () => {
      assert.deepEqual(valuesOf('subject=Patient/123/_history/4', 'Observation'), [{ type: 'reference', resourceType: 'Patient', id: '123', version: '4' }]);
    });

    it('an absolute URL keeps the url and the type and id parsed from it', () => {
      assert.deepEqual(valuesOf('subject=https://cusp.example/fhir/Patient/123', 'Observation'), [
        { type: 'reference', url: 'https://cusp.example/fhir/Patient/123', resourceType: 'Patient', id: '123' },
      ]);
      assert.deepEqual(valuesOf('subject=http://other.example/fhir/Patient/9/_history/2', 'Observation'), [
        { type: 'reference', url: 'http://other.example/fhir/Patient/9/_history/2', resourceType: 'Patient', id: '9', version: '2' },
      ]);
    });

    it('a URL whose path is not [target type]/[id] is kept as a url only', () => {
      assert.deepEqual(valuesOf('subject=urn:uuid:8d3f2a54-7c59-4d1e-9b9a-0a1f0c6e1c11', 'Observation'), [
        { type: 'reference', url: 'urn:uuid:8d3f2a54-7c59-4d1e-9b9a-0a1f0c6e1c11' },
      ]);
      assert.deepEqual(valuesOf('subject=http://example.org/People/1', 'Observation'), [{ type: 'reference', url: 'http://example.org/People/1' }]);
    });

    it('a type the parameter cannot refer to, or a malformed id, is malformed', () => {
      assertSearchError('subject=Practitioner/1', 'subject', 'Observation');
      assertSearchError('subject=Patient/a%20b', 'subject', 'Observation');
      assertSearchError('subject=Patient/1/2', 'subject', 'Observation');
      assertSearchError('subject=Patient/1/_history', 'subject', 'Observation');
    });

    it(':[type] restricts the target type', () => {
      const search = parse('subject:Patient=123', 'Observation');
      assert.equal(search.criteria[0]?.modifier, 'Patient');
      assert.deepEqual(search.criteria[0]?.values, [{ type: 'reference', resourceType: 'Patient', id: '123' }]);
    });

    it(':[type] must be one of the parameter targets and agree with the value', () => {
      assertSearchError('subject:Practitioner=123', 'subject:Practitioner', 'Observation');
      assertSearchError('subject:Patient=Group/1', 'subject:Patient', 'Observation');
    });

    it(':identifier searches Reference.identifier with [system]|[value]', () => {
      const search = parse('subject:identifier=http://nhs.uk/nhs-number|9434765919', 'Observation');
      assert.equal(search.criteria[0]?.modifier, 'identifier');
      assert.deepEqual(search.criteria[0]?.values, [{ type: 'identifier', system: 'http://nhs.uk/nhs-number', value: '9434765919' }]);
      assert.deepEqual(valuesOf('subject:identifier=9434765919', 'Observation'), [{ type: 'identifier', value: '9434765919' }]);
    });

    it(':identifier with more than one unescaped pipe is malformed', () => {
      assertSearchError('subject:identifier=a|b|c', 'subject:identifier', 'Observation');
    });
  });

  describe('chaining', () => {
    it('subject:Patient.name chains through an explicit type', () => {
      const [criterion] = parse('subject:Patient.name=peter', 'Observation').criteria;
      assert.deepEqual(criterion, {
        name: 'subject',
        definition: PARAMETERS.Observation?.get('subject'),
        modifier: 'Patient',
        values: [],
        chain: {
          parameter: 'name',
          targetType: 'Patient',
          next: { name: 'name', definition: PARAMETERS.Patient?.get('name'), values: [{ type: 'string', value: 'peter' }] },
        },
      });
    });

    it('patient.name may omit the type when the reference has a single target', () => {
      const [criterion] = parse('patient.name:exact=Peter', 'Observation').criteria;
      assert.equal(criterion?.chain?.targetType, 'Patient');
      assert.equal(criterion?.chain?.next.modifier, 'exact');
      assert.deepEqual(criterion?.chain?.next.values, [{ type: 'string', value: 'Peter' }]);
    });

    it('a reference with several targets needs the type named', () => {
      assertSearchError('subject.name=peter', 'subject.name', 'Observation');
      assertSearchError('general-practitioner.name=smith', 'general-practitioner.name');
    });

    it('the type named must be one of the targets', () => {
      assertSearchError('subject:Practitioner.name=smith', 'subject:Practitioner.name', 'Observation');
    });

    it('chains resolve to any depth', () => {
      const [criterion] = parse('subject:Patient.organization.name=Bright%20Smiles', 'Observation').criteria;
      const organization = criterion?.chain?.next;
      assert.equal(organization?.name, 'organization');
      assert.equal(organization?.chain?.targetType, 'Organization');
      assert.deepEqual(organization?.chain?.next.values, [{ type: 'string', value: 'Bright Smiles' }]);
    });

    it('a parameter the target type lacks is reported in unknown', () => {
      assertUnknown('subject:Patient.shoe-size=42', 'subject:Patient.shoe-size', 'Observation');
      assertUnknown('subject:Group.name=x', 'subject:Group.name', 'Observation'); // Group has no registry
    });

    it('only reference parameters can be chained', () => {
      assertSearchError('name.family=x', 'name.family');
    });
  });

  describe('_has (reverse chaining)', () => {
    it('_has:Observation:patient:code selects patients referred to by matching observations', () => {
      const search = parse('_has:Observation:patient:code=1234-5');
      assert.deepEqual(search.has, [
        {
          targetType: 'Observation',
          referenceParam: 'patient',
          criterion: { name: 'code', definition: PARAMETERS.Observation?.get('code'), values: [{ type: 'token', code: '1234-5' }] },
        },
      ]);
      assert.deepEqual(search.criteria, []);
    });

    it('the inner parameter keeps its modifier', () => {
      const [has] = parse('_has:Observation:subject:code:not=1234-5').has;
      assert.equal(has?.criterion.modifier, 'not');
    });

    it('_has can nest', () => {
      const [has] = parse('_has:Patient:organization:_has:Observation:patient:code=1234-5', 'Organization').has;
      assert.equal(has?.targetType, 'Patient');
      assert.equal(has?.criterion.name, '_has');
      assert.equal(has?.criterion.has?.targetType, 'Observation');
      assert.equal(has?.criterion.has?.criterion.name, 'code');
    });

    it('needs at least one [type]:[reference]:[parameter] level', () => {
      assertSearchError('_has=x', '_has');
      assertSearchError('_has:Observation:patient=x', '_has:Observation:patient');
    });

    it('the reference must be a reference parameter that can point at the searched type', () => {
      assertSearchError('_has:Observation:code:code=x', '_has:Observation:code:code');
      assertSearchError('_has:Observation:patient:code=x', '_has:Observation:patient:code', 'Organization');
    });

    it('unknown types and parameters are reported in unknown', () => {
      assertUnknown('_has:Encounter:patient:status=x', '_has:Encounter:patient:status');
      assertUnknown('_has:Observation:patient:shoe-size=x', '_has:Observation:patient:shoe-size');
    });
  });

  describe('_sort', () => {
    it('a comma-separated list, "-" for descending', () => {
      const search = parse('_sort=family,-birthdate');
      assert.deepEqual(
        search.sort.map(({ name, descending }) => ({ name, descending })),
        [
          { name: 'family', descending: false },
          { name: 'birthdate', descending: true },
        ],
      );
      assert.equal(search.sort[1]?.definition.type, 'date');
    });

    it('a sort parameter the resource lacks is reported, the others kept', () => {
      const search = assertUnknown('_sort=shoe-size,family', '_sort');
      assert.deepEqual(search.sort.map((key) => key.name), ['family']);
    });

    it('an empty sort key is malformed', () => {
      assertSearchError('_sort=family,', '_sort');
    });
  });

  describe('_count', () => {
    it('a non-negative integer', () => {
      assert.equal(parse('_count=0').count, 0);
      assert.equal(parse('_count=20').count, 20);
    });

    it('above maxCount it is lowered to maxCount and not reported', () => {
      const search = parse('_count=5000', 'Patient', { maxCount: 100 });
      assert.equal(search.count, 100);
      assert.deepEqual(search.unknown, []);
    });

    it('anything else is malformed', () => {
      for (const value of ['-1', 'ten', '2.5', '1e2']) assertSearchError(`_count=${value}`, '_count');
      assertSearchError('_count=10&_count=20', '_count');
    });
  });

  describe('_total, _summary, _elements, _cursor, _format, _pretty', () => {
    it('_total is none, estimate or accurate', () => {
      assert.equal(parse('_total=accurate').total, 'accurate');
      assertSearchError('_total=some', '_total');
    });

    it('_summary is true, text, data, count or false', () => {
      assert.equal(parse('_summary=count').summary, 'count');
      assertSearchError('_summary=brief', '_summary');
    });

    it('_elements is a comma-separated list of element names', () => {
      assert.deepEqual(parse('_elements=identifier,active,name').elements, ['identifier', 'active', 'name']);
      assertSearchError('_elements=name,,gender', '_elements');
    });

    it('_cursor and _format are passed through, _pretty is a boolean', () => {
      const search = parse('_cursor=eyJvIjoxMH0&_format=json&_pretty=true');
      assert.equal(search.cursor, 'eyJvIjoxMH0');
      assert.equal(search.format, 'json');
      assert.equal(search.pretty, true);
      assertSearchError('_pretty=yes', '_pretty');
    });

    it('result parameters take no modifiers', () => {
      assertUnknown('_count:exact=10', '_count:exact');
    });
  });

  describe('_include and _revinclude', () => {
    it('_include=[type]:[parameter]', () => {
      assert.deepEqual(parse('_include=Observation:subject', 'Observation').include, [
        { sourceType: 'Observation', parameter: 'subject', iterate: false },
      ]);
    });

    it('_include=[type]:[parameter]:[target type]', () => {
      assert.deepEqual(parse('_include=Observation:subject:Patient', 'Observation').include, [
        { sourceType: 'Observation', parameter: 'subject', targetType: 'Patient', iterate: false },
      ]);
      assertUnknown('_include=Observation:subject:Practitioner', '_include', 'Observation');
    });

    it(':iterate follows references of included resources too', () => {
      const search = parse('_include=Observation:subject:Patient&_include:iterate=Patient:general-practitioner', 'Observation');
      assert.deepEqual(search.include[1], { sourceType: 'Patient', parameter: 'general-practitioner', iterate: true });
      assertUnknown('_include:recurse=Patient:organization', '_include:recurse', 'Observation');
    });

    it('without :iterate an _include must start from the searched type', () => {
      assertUnknown('_include=Patient:organization', '_include', 'Observation');
    });

    it('the * wildcard includes every reference parameter', () => {
      assert.deepEqual(parse('_include=Observation:*', 'Observation').include, [
        { sourceType: 'Observation', parameter: '*', iterate: false, wildcard: true },
      ]);
      assert.deepEqual(parse('_include=*', 'Observation').include, [{ sourceType: 'Observation', parameter: '*', iterate: false, wildcard: true }]);
    });

    it('_revinclude=[type]:[parameter] includes resources that refer to the matches', () => {
      assert.deepEqual(parse('_revinclude=Observation:subject').revinclude, [{ sourceType: 'Observation', parameter: 'subject', iterate: false }]);
      assert.deepEqual(parse('_revinclude:iterate=Observation:patient', 'Organization').revinclude, [
        { sourceType: 'Observation', parameter: 'patient', iterate: true },
      ]);
      assertUnknown('_revinclude=Observation:patient', '_revinclude', 'Organization');
    });

    it('unknown types and parameters, and non-reference parameters, are reported in unknown', () => {
      assertUnknown('_include=Observation:shoe-size', '_include', 'Observation');
      assertUnknown('_revinclude=Encounter:subject', '_revinclude');
      assertUnknown('_include=Observation:code', '_include', 'Observation');
    });

    it('a value not of the form [type]:[parameter] is malformed', () => {
      for (const value of ['Observation', 'observation:subject', 'Observation:subject:Patient:extra']) {
        assertSearchError(`_include=${value}`, '_include', 'Observation');
      }
    });
  });
});
