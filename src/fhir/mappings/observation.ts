// fhir4.Observation ↔ vital_signs and perio_measurements (https://hl7.org/fhir/R4/observation.html):
// one resource type over two tables (mapping `sources`), searched through the view
// fhir_observations (migrations/014).
//
// vital_signs: one row is one set of measurements taken together. It is
//   - a single vital sign with a valueQuantity, when exactly one measurement other than blood
//     pressure is set;
//   - the blood pressure panel 85354-9 with components 8480-6 and 8462-4, when only systolic and
//     diastolic are;
//   - otherwise the vital signs panel 85353-1 with one component per measured value. (R4's
//     vitalspanel profile groups Observations by hasMember; one row has no separate Observations
//     to point at, so its values are components, as in the blood pressure panel.)
//   LOINC codes and UCUM units are those of the R4 vital signs profile,
//   https://hl7.org/fhir/R4/observation-vitalsigns.html (codes of the value set
//   http://hl7.org/fhir/ValueSet/observation-vitalsignresult, units of
//   http://hl7.org/fhir/ValueSet/ucum-vitals-common). spo2 is pulse oximetry: it renders 2708-6,
//   the code R4's oxygensat profile fixes, and 59408-5 (by pulse oximetry); a write may give
//   either or both. Writes accept exactly these shapes in these units: a temperature in [degF]
//   is 422, not converted, and a value with more decimals than its column is 422, not rounded.
//
// perio_measurements: one row is one probing site of one tooth: code perio-site-exam of
//   profiles/CodeSystem-perio.json, one component per measured value. bodySite is the tooth
//   (ex-tooth, as Procedure) qualified by the site in the extension perio-site
//   (profiles/StructureDefinition-perio-site.json): Observation.bodySite is one concept, and the
//   site is a qualifier of the tooth, not another coding of the same concept. The sites are a
//   Cusp code system (profiles/CodeSystem-perio-site.json), not FDI-surface: Surface Codes name
//   crown surfaces (M, O, D, B, L, MO, ...) and have no MB, DB, ML or DL; a probing site is a
//   point of the sulcus around the tooth.
//
// status: the tables have no status column; a row is a final result. A write may say final, or
// amended/corrected (a final result changed since), which the residual keeps; other statuses
// are 422. Elements without a column (perio performer and note, interpretation, …) are kept by
// the residual, as in the other mappings.
import { HttpError, unprocessable } from '../../http/errors.ts';
import { codeTable } from '../codes.ts';
import {
  codingIn, compact, dateTimeOf, defineMapping, instantOf, referencedId, referenceTo, referenceType, required,
  type ResourceContent, type Row,
} from '../mapping.ts';
import { dateParam, displaysIn, profileDisplays, quantityParam, referenceParam, tokenParam } from '../search/declarations.ts';
import { ORAL_SITES, TOOTH, TOOTH_SYSTEM } from './procedure.ts';

type Observation = ResourceContent<fhir4.Observation>;
type Component = fhir4.ObservationComponent;

export const LOINC = 'http://loinc.org';
export const UCUM = 'http://unitsofmeasure.org';
export const OBSERVATION_CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';
export const PERIO_SYSTEM = 'https://cusp.dental/fhir/CodeSystem/perio';
export const PERIO_SITE_SYSTEM = 'https://cusp.dental/fhir/CodeSystem/perio-site';
export const PERIO_SITE_EXTENSION = 'https://cusp.dental/fhir/StructureDefinition/perio-site';
export const BP_PANEL = '85354-9';
export const VITALS_PANEL = '85353-1';
const PERIO_SITE_EXAM = 'perio-site-exam';
const VITAL_SIGNS_TABLE = 'vital_signs';
const PERIO_TABLE = 'perio_measurements';

/** What a numeric column holds unchanged: at most `scale` decimals, |value| below `limit`. */
interface NumericColumn {
  column: string;
  scale: number;
  limit: number;
}
interface Measured extends NumericColumn {
  name: string;
  /** UCUM code. */
  unit: string;
}
interface VitalSign extends Measured {
  /** LOINC codes, all rendered; a write may give any of them. */
  codes: string[];
}

const INTEGER = { scale: 0, limit: 2 ** 31 };
const SMALLINT = { scale: 0, limit: 2 ** 15 };
/** The columns of vital_signs, in the order a panel renders its components. */
export const VITAL_SIGNS: VitalSign[] = [
  { name: 'systolic blood pressure', column: 'systolic_bp', codes: ['8480-6'], unit: 'mm[Hg]', ...INTEGER },
  { name: 'diastolic blood pressure', column: 'diastolic_bp', codes: ['8462-4'], unit: 'mm[Hg]', ...INTEGER },
  { name: 'heart rate', column: 'heart_rate', codes: ['8867-4'], unit: '/min', ...INTEGER },
  { name: 'respiratory rate', column: 'respiratory_rate', codes: ['9279-1'], unit: '/min', ...INTEGER },
  { name: 'body temperature', column: 'temperature_c', codes: ['8310-5'], unit: 'Cel', scale: 1, limit: 1000 },
  { name: 'oxygen saturation', column: 'spo2', codes: ['2708-6', '59408-5'], unit: '%', ...INTEGER },
  { name: 'body weight', column: 'weight_kg', codes: ['29463-7'], unit: 'kg', scale: 2, limit: 10000 },
  { name: 'body height', column: 'height_cm', codes: ['8302-2'], unit: 'cm', scale: 2, limit: 10000 },
  { name: 'body mass index', column: 'bmi', codes: ['39156-5'], unit: 'kg/m2', scale: 2, limit: 1000 },
];
const BLOOD_PRESSURE = VITAL_SIGNS.slice(0, 2);
const SINGLE_VITAL_SIGNS = VITAL_SIGNS.slice(2);

type VitalKind = VitalSign | 'blood-pressure-panel' | 'vital-signs-panel';

/** The Observation.code a LOINC code stands for in vital_signs. */
function vitalKindOf(code: string | undefined): VitalKind | undefined {
  if (code === BP_PANEL) return 'blood-pressure-panel';
  if (code === VITALS_PANEL) return 'vital-signs-panel';
  return SINGLE_VITAL_SIGNS.find((sign) => code !== undefined && sign.codes.includes(code));
}

/** What a row renders to, by the measurements it holds (the same rule as vital_signs.fhir_code). */
function shapeOf(measured: VitalSign[]): VitalKind {
  const others = measured.filter((sign) => !BLOOD_PRESSURE.includes(sign));
  if (measured.length === 1 && others.length === 1) return others[0]!;
  if (measured.length === 2 && others.length === 0) return 'blood-pressure-panel';
  return 'vital-signs-panel';
}

const loinc = (codes: string[]): fhir4.CodeableConcept => ({ coding: codes.map((code) => ({ system: LOINC, code })) });
const quantity = (value: unknown, unit: string): fhir4.Quantity => ({ value: Number(value), unit, system: UCUM, code: unit });

/** The one component of a perio site exam a column holds. */
interface PerioMeasurement {
  code: string;
  column: string;
  /** The component's value → the column's value; 422 naming the element when it cannot be stored. */
  toColumn(component: Component, element: string): unknown;
  toComponent(value: unknown): Partial<Component>;
}

function perioQuantity(code: string, column: string, name: string): PerioMeasurement {
  const measured: Measured = { column, name, unit: 'mm', scale: 1, limit: 1000 };
  return {
    code, column,
    toColumn: (component, element) => storedQuantity(only(component, 'valueQuantity', element), measured, `${element}.valueQuantity`),
    toComponent: (value) => ({ valueQuantity: quantity(value, 'mm') }),
  };
}

/** The components of profiles/CodeSystem-perio.json ↔ the columns of perio_measurements. */
export const PERIO_MEASUREMENTS: PerioMeasurement[] = [
  perioQuantity('pocket-depth', 'pocket_depth_mm', 'probing pocket depth'),
  perioQuantity('gingival-margin', 'gingival_margin_mm', 'gingival margin'),
  {
    code: 'bleeding-on-probing', column: 'bleeding_on_probing',
    toColumn: (component, element) => only(component, 'valueBoolean', element),
    toComponent: (value) => ({ valueBoolean: value as boolean }),
  },
  {
    code: 'mobility', column: 'mobility_grade',
    toColumn: (component, element) => storedNumber(only(component, 'valueInteger', element),
      { column: 'mobility_grade', ...SMALLINT }, `${element}.valueInteger`),
    toComponent: (value) => ({ valueInteger: Number(value) }),
  },
  {
    code: 'furcation', column: 'furcation_involvement',
    toColumn: (component, element) => only(component, 'valueString', element),
    toComponent: (value) => ({ valueString: value as string }),
  },
];
/** Every code of profiles/CodeSystem-perio.json. */
export const PERIO_CODES = [PERIO_SITE_EXAM, ...PERIO_MEASUREMENTS.map((m) => m.code)];
/** profiles/CodeSystem-perio-site.json ↔ perio_measurements.site, stored as written. */
export const PERIO_SITE = codeTable(Object.fromEntries(['M', 'B', 'D', 'L', 'MB', 'DB', 'ML', 'DL'].map((site) => [site, site])));

/** Statuses of a final result; the row renders final. */
const FINAL_STATUSES = new Set(['final', 'amended', 'corrected']);

// ---- writes ---------------------------------------------------------------------------------

const VALUE_ELEMENTS = ['valueQuantity', 'valueCodeableConcept', 'valueString', 'valueBoolean', 'valueInteger', 'valueRange',
  'valueRatio', 'valueSampledData', 'valueTime', 'valueDateTime', 'valuePeriod'] as const;
type ValueElement = typeof VALUE_ELEMENTS[number];

/** The one value[x] an element may carry (or none, when `expected` is undefined); another is 422. */
function only<K extends ValueElement>(holder: Observation | Component, expected: K | undefined, element: string): NonNullable<Component[K]> {
  const other = VALUE_ELEMENTS.find((key) => key !== expected && holder[key as keyof typeof holder] !== undefined);
  if (other) {
    throw unprocessable(`${element}.${other} cannot be stored: ${expected ? `the value here is a ${expected.slice(5)}` : 'a panel holds its values in its components'}`, `${element}.value[x]`);
  }
  if (expected === undefined) return undefined as never;
  return required(holder[expected as keyof typeof holder] as Component[K] | undefined, `${element}.${expected}`, 'the column holds the value') as NonNullable<Component[K]>;
}

/** Number of decimal places of a JSON number (also in exponent notation). */
function decimalsOf(value: number): number {
  const [mantissa = '', exponent = '0'] = String(Math.abs(value)).split('e');
  return Math.max(0, (mantissa.split('.')[1]?.length ?? 0) - Number(exponent));
}

function storedNumber(value: number, column: NumericColumn, element: string): number {
  if (decimalsOf(value) > column.scale) {
    throw unprocessable(`${element}: ${value} has more decimal places than ${column.column} holds (${column.scale}); it is not rounded`, element);
  }
  if (Math.abs(value) >= column.limit) throw unprocessable(`${element}: ${value} is beyond what ${column.column} holds`, element);
  return value;
}

/** A Quantity in exactly the column's UCUM unit (nothing is converted) → the number to store. */
function storedQuantity(value: fhir4.Quantity, measured: Measured, element: string): number {
  if (value.system !== undefined && value.system !== UCUM) {
    throw unprocessable(`${element}.system: units are UCUM (${UCUM}), not ${value.system}`, `${element}.system`);
  }
  const stated = value.code ?? value.unit;
  if (stated !== measured.unit) {
    // The unit is the code, or the unit text when there is no code; name whichever states the wrong one.
    const expressions = [
      ...(value.code !== undefined ? [`${element}.code`] : []),
      ...(value.unit !== undefined && value.unit !== measured.unit ? [`${element}.unit`] : []),
    ];
    throw new HttpError(422, 'processing', `${element}: the ${measured.name} is stored in ${measured.unit} (UCUM); `
      + `${stated === undefined ? 'no unit was given' : `"${stated}" is not converted`}`, {}, expressions.length > 0 ? expressions : [`${element}.code`]);
  }
  if (value.comparator !== undefined) throw unprocessable(`${element}.comparator: ${measured.column} holds a measured value, not a bound`, `${element}.comparator`);
  return storedNumber(required(value.value, `${element}.value`, `${measured.column} holds the value`), measured, `${element}.value`);
}

/** The vital sign a component's LOINC codes name, among `allowed`. */
function componentSign(component: Component, allowed: VitalSign[], element: string, panel: string): VitalSign {
  const codes = (component.code.coding ?? []).filter((c) => c.system === LOINC).map((c) => c.code);
  const signs = new Set(codes.map((code) => allowed.find((sign) => code !== undefined && sign.codes.includes(code))));
  const [sign] = signs;
  if (signs.size !== 1 || !sign) {
    throw unprocessable(`${element}: the ${panel} holds ${allowed.map((s) => `${s.name} (LOINC ${s.codes.join(' or ')})`).join(', ')}; `
      + `${codes.length > 0 ? `LOINC ${codes.join(', ')} is not one of them` : 'this component has no LOINC code'}`, element);
  }
  return sign;
}

/** The kind of vital sign Observation.code names: exactly one; LOINC codes this server does not store are 422. */
function vitalKind(observation: Observation): VitalKind {
  const codes = (observation.code.coding ?? []).filter((c) => c.system === LOINC).map((c) => c.code);
  const kinds = new Set(codes.map(vitalKindOf));
  if (kinds.has(undefined)) {
    throw unprocessable(`Observation.code: LOINC ${codes.filter((code) => !vitalKindOf(code)).join(', ')} is not a vital sign this server stores`, 'Observation.code');
  }
  if (kinds.size !== 1) throw unprocessable('Observation.code names several vital signs; one Observation is one of them, or a panel', 'Observation.code');
  return [...kinds][0]!;
}

function vitalSignsColumns(observation: Observation): Row {
  const kind = vitalKind(observation);
  const values = new Map<VitalSign, number>();
  if (typeof kind === 'object') {
    if (observation.component?.length) {
      throw unprocessable(`Observation.component: a single ${kind.name} has no components; several measurements are the vital signs panel ${VITALS_PANEL}`, 'Observation.component');
    }
    values.set(kind, storedQuantity(only(observation, 'valueQuantity', 'Observation'), kind, 'Observation.valueQuantity'));
  } else {
    only(observation, undefined, 'Observation');
    const panel = kind === 'blood-pressure-panel' ? `blood pressure panel ${BP_PANEL}` : `vital signs panel ${VITALS_PANEL}`;
    (observation.component ?? []).forEach((component, i) => {
      const element = `Observation.component[${i}]`;
      const sign = componentSign(component, kind === 'blood-pressure-panel' ? BLOOD_PRESSURE : VITAL_SIGNS, `${element}.code`, panel);
      if (values.has(sign)) throw unprocessable(`${element}.code: a second ${sign.name}; the ${panel} holds one`, `${element}.code`);
      values.set(sign, storedQuantity(only(component, 'valueQuantity', element), sign, `${element}.valueQuantity`));
    });
    // A panel must read back as what was written.
    const shape = shapeOf(VITAL_SIGNS.filter((sign) => values.has(sign)));
    if (kind === 'blood-pressure-panel' && shape !== kind) {
      throw unprocessable(`Observation.component: the ${panel} is stored with both systolic (8480-6) and diastolic (8462-4) blood pressure`, 'Observation.component');
    }
    if (kind === 'vital-signs-panel' && typeof shape === 'object') {
      throw unprocessable(`Observation.code: a panel of only a ${shape.name} is stored as a ${shape.name} Observation (LOINC ${shape.codes.join(' or ')} with a valueQuantity)`, 'Observation.code');
    }
    if (kind === 'vital-signs-panel' && shape === 'blood-pressure-panel') {
      throw unprocessable(`Observation.code: a panel of only systolic and diastolic blood pressure is the blood pressure panel ${BP_PANEL}`, 'Observation.code');
    }
  }
  return {
    ...Object.fromEntries(VITAL_SIGNS.map((sign) => [sign.column, values.get(sign) ?? null])),
    recorded_by_id: practitionerId(observation),
    notes: observation.note?.[0]?.text ?? null,
  };
}

function practitionerId(observation: Observation): string | null {
  // The first performer who is a Practitioner; other performers are kept by the residual.
  const index = observation.performer?.findIndex((p) => referenceType(p) === 'Practitioner') ?? -1;
  if (index < 0) return null;
  return referencedId(observation.performer![index], 'Practitioner', `Observation.performer[${index}]`);
}

function perioColumns(observation: Observation): Row {
  only(observation, undefined, 'Observation');
  const bodySite = required(observation.bodySite, 'Observation.bodySite', 'a perio measurement is of one site of one tooth');
  const tooth = codingIn(bodySite, TOOTH_SYSTEM)?.code;
  if (tooth === undefined || ORAL_SITES.has(tooth)) {
    throw unprocessable(`Observation.bodySite: a tooth of ${TOOTH_SYSTEM} (e.g. 36) is required; perio_measurements.tooth_number is not null`, 'Observation.bodySite');
  }
  const siteElement = `Observation.bodySite.extension('${PERIO_SITE_EXTENSION}')`;
  const site = bodySite.extension?.find((e) => e.url === PERIO_SITE_EXTENSION)?.valueCoding;
  if (site?.system !== PERIO_SITE_SYSTEM || site.code === undefined) {
    throw unprocessable(`${siteElement}: the probing site is required, as a coding of ${PERIO_SITE_SYSTEM}; perio_measurements.site is not null`, siteElement);
  }
  const values = new Map<PerioMeasurement, unknown>();
  (observation.component ?? []).forEach((component, i) => {
    const element = `Observation.component[${i}]`;
    const code = codingIn(component.code, PERIO_SYSTEM)?.code;
    const measurement = PERIO_MEASUREMENTS.find((m) => m.code === code);
    if (!measurement) {
      throw unprocessable(`${element}.code: a perio site exam holds ${PERIO_MEASUREMENTS.map((m) => m.code).join(', ')} of ${PERIO_SYSTEM}`, `${element}.code`);
    }
    if (values.has(measurement)) throw unprocessable(`${element}.code: a second ${measurement.code}; a site has one`, `${element}.code`);
    values.set(measurement, measurement.toColumn(component, element));
  });
  return {
    tooth_number: TOOTH.toColumn(tooth, 'Observation.bodySite'),
    site: PERIO_SITE.toColumn(site.code, siteElement),
    ...Object.fromEntries(PERIO_MEASUREMENTS.map((m) => [m.column, values.get(m) ?? null])),
  };
}

function commonColumns(observation: Observation, category: string): Row {
  if (!FINAL_STATUSES.has(observation.status)) {
    throw unprocessable(`Observation.status: "${observation.status}" cannot be stored; a measurement held here is a final result (final, amended or corrected)`, 'Observation.status');
  }
  (observation.category ?? []).forEach((concept, i) => {
    const other = concept.coding?.find((c) => c.system === OBSERVATION_CATEGORY && c.code !== category);
    if (other) throw unprocessable(`Observation.category[${i}]: this Observation is ${category}, not ${other.code ?? 'uncoded'}`, `Observation.category[${i}]`);
  });
  if (observation.effectivePeriod || observation.effectiveTiming) {
    throw unprocessable('Observation.effective[x]: measured_at is one instant; give effectiveDateTime', 'Observation.effective[x]');
  }
  return {
    patient_id: referencedId(required(observation.subject, 'Observation.subject', 'every observation is of a patient'), 'Patient', 'Observation.subject'),
    encounter_id: referencedId(observation.encounter, 'Encounter', 'Observation.encounter'),
    measured_at: instantOf(required(observation.effectiveDateTime ?? observation.effectiveInstant, 'Observation.effective[x]',
      'measured_at (when it was measured) is not null')),
  };
}

// ---- reads ----------------------------------------------------------------------------------

function commonElements(row: Row, category: string) {
  return {
    resourceType: 'Observation' as const,
    status: 'final' as const,
    category: [{ coding: [{ system: OBSERVATION_CATEGORY, code: category }] }],
    subject: referenceTo('Patient', row.patient_id),
    encounter: referenceTo('Encounter', row.encounter_id),
    effectiveDateTime: dateTimeOf(row.measured_at),
  };
}

function vitalSignsResource(row: Row): Observation {
  const measured = VITAL_SIGNS.filter((sign) => row[sign.column] !== null && row[sign.column] !== undefined);
  const shape = shapeOf(measured);
  const single = typeof shape === 'object' ? shape : undefined;
  return compact({
    ...commonElements(row, 'vital-signs'),
    code: loinc(single ? single.codes : [shape === 'blood-pressure-panel' ? BP_PANEL : VITALS_PANEL]),
    valueQuantity: single ? quantity(row[single.column], single.unit) : undefined,
    component: single ? undefined : measured.map((sign) => ({ code: loinc(sign.codes), valueQuantity: quantity(row[sign.column], sign.unit) })),
    performer: row.recorded_by_id ? [referenceTo('Practitioner', row.recorded_by_id)!] : undefined,
    note: row.notes ? [{ text: row.notes as string }] : undefined,
  });
}

function perioResource(row: Row): Observation {
  const tooth = TOOTH.toCode(row.tooth_number);
  const site = PERIO_SITE.toCode(row.site);
  return compact({
    ...commonElements(row, 'exam'),
    code: { coding: [{ system: PERIO_SYSTEM, code: PERIO_SITE_EXAM }] },
    bodySite: {
      extension: site ? [{ url: PERIO_SITE_EXTENSION, valueCoding: { system: PERIO_SITE_SYSTEM, code: site } }] : undefined,
      coding: tooth ? [{ system: TOOTH_SYSTEM, code: tooth }] : undefined,
      // Values other writers put outside the code systems are shown, not coded.
      text: tooth && site ? undefined : `tooth ${String(row.tooth_number)}, site ${String(row.site)}`,
    },
    component: PERIO_MEASUREMENTS.filter((m) => row[m.column] !== null && row[m.column] !== undefined)
      .map((m) => ({ code: { coding: [{ system: PERIO_SYSTEM, code: m.code }] }, ...m.toComponent(row[m.column]) }) as Component),
  });
}

// ---- the mapping ----------------------------------------------------------------------------

const isVitalSign = (observation: Observation) => (observation.code?.coding ?? []).some((c) => c.system === LOINC && vitalKindOf(c.code));
const isPerioSiteExam = (observation: Observation) => (observation.code?.coding ?? []).some((c) => c.system === PERIO_SYSTEM && c.code === PERIO_SITE_EXAM);

/** For :text: LOINC's displays of the codes rendered, and those of the perio code system. */
const CODE_DISPLAYS = [
  ...displaysIn(LOINC, {
    '8480-6': 'Systolic blood pressure', '8462-4': 'Diastolic blood pressure', '8867-4': 'Heart rate', '9279-1': 'Respiratory rate',
    '8310-5': 'Body temperature', '2708-6': 'Oxygen saturation in Arterial blood', '59408-5': 'Oxygen saturation in Arterial blood by Pulse oximetry',
    [BP_PANEL]: 'Blood pressure panel with all children optional',
    [VITALS_PANEL]: 'Vital signs, weight, height, head circumference, oxygen saturation and BMI panel',
  }),
  ...profileDisplays('CodeSystem-perio.json'),
];

const OBSERVATION_CODES = { table: 'fhir_observation_codes', foreignKey: 'observation_id' };
const COMPONENT_CODES = { table: 'fhir_observation_component_codes', foreignKey: 'observation_id' };

export const observationMapping = defineMapping<fhir4.Observation>({
  type: 'Observation',
  table: 'fhir_observations',
  children: [],
  softDelete: false,
  provenance: false,
  sourceElement: 'Observation.code',
  sources: [
    {
      table: VITAL_SIGNS_TABLE, children: [], softDelete: false, provenance: true, accepts: isVitalSign,
      description: `vital signs: a single one (LOINC ${SINGLE_VITAL_SIGNS.map((s) => s.codes.join('/')).join(', ')}), `
        + `the blood pressure panel ${BP_PANEL} or the vital signs panel ${VITALS_PANEL}`,
    },
    {
      table: PERIO_TABLE, children: [], softDelete: false, provenance: true, accepts: isPerioSiteExam,
      description: `periodontal measurements of one site of one tooth (${PERIO_SYSTEM} ${PERIO_SITE_EXAM})`,
    },
  ],

  toRows(observation, source) {
    const perio = source === PERIO_TABLE;
    const common = commonColumns(observation, perio ? 'exam' : 'vital-signs');
    return { row: { ...common, ...(perio ? perioColumns(observation) : vitalSignsColumns(observation)) }, children: {} };
  },

  toResource({ row, source }) {
    if (source === VITAL_SIGNS_TABLE) return vitalSignsResource(row);
    if (source === PERIO_TABLE) return perioResource(row);
    throw new Error(`an Observation snapshot from ${source ?? 'an unnamed table'}: only ${VITAL_SIGNS_TABLE} and ${PERIO_TABLE} hold Observations`);
  },

  search: {
    patient: referenceParam({ expression: 'Observation.subject.where(resolve() is Patient)', description: 'The patient the observation is about' }, 'patient_id', ['Patient']),
    subject: referenceParam({ expression: 'Observation.subject', description: 'The patient the observation is about' }, 'patient_id', ['Patient']),
    encounter: referenceParam({ expression: 'Observation.encounter', description: 'The encounter during which the observation was made' }, 'encounter_id', ['Encounter']),
    performer: referenceParam({ expression: 'Observation.performer', description: 'The practitioner who recorded the vital signs' }, 'recorded_by_id', ['Practitioner']),
    code: tokenParam({ expression: 'Observation.code', description: 'The code of the observation: a vital sign or panel (LOINC), or a perio site exam' },
      { code: { ...OBSERVATION_CODES, column: 'code' }, system: { ...OBSERVATION_CODES, column: 'system' }, displays: CODE_DISPLAYS }),
    'component-code': tokenParam({ expression: 'Observation.component.code', description: 'The code of a component: a vital sign of a panel, a perio measurement' },
      { code: { ...COMPONENT_CODES, column: 'code' }, system: { ...COMPONENT_CODES, column: 'system' }, displays: CODE_DISPLAYS }),
    category: tokenParam({ expression: 'Observation.category', description: 'vital-signs | exam' },
      { code: 'category', system: { fixed: OBSERVATION_CATEGORY }, displays: displaysIn(OBSERVATION_CATEGORY, { 'vital-signs': 'Vital Signs', exam: 'Exam' }) }),
    date: dateParam({ expression: 'Observation.effective', description: 'When the measurement was taken' }, 'timestamp', 'measured_at'),
    // Only a single vital sign has a valueQuantity; panels and perio sites hold components.
    'value-quantity': quantityParam({ expression: 'Observation.value as Quantity', description: 'The value of a single vital sign (UCUM, not converted)' },
      'value_quantity', { system: UCUM, unitColumn: 'value_unit' }),
  },
});
