// How a mapping declares its search parameters: the parameter's type, the FHIRPath expression it
// stands for (published in the CapabilityStatement and conformance/), and the columns that
// implement it. The search compiler turns these into SQL.
import fs from 'node:fs';
import type { CodeTable } from '../codes.ts';
import type { SearchParamType } from './types.ts';

/** A column of the main table, or of a child table joined on its foreign key. */
export type ColumnRef = string | { table: string; foreignKey: string; column: string };

interface Declared {
  type: SearchParamType;
  /** FHIRPath of the elements searched (https://hl7.org/fhir/R4/searchparameter.html). */
  expression: string;
  description: string;
}

export interface StringDeclaration extends Declared {
  type: 'string';
  columns: ColumnRef[];
  /** The column holds several parts (a whole name as text): a value may start any word of it. */
  words?: boolean;
}
export interface TokenDeclaration extends Declared {
  type: 'token';
  code: ColumnRef;
  /** Where the token's system comes from: a column, or one system for every row. */
  system?: ColumnRef | { fixed: string };
  /** FHIR codes ↔ column values, when the column holds schema enum values. */
  codes?: CodeTable;
  /** The code column is a uuid: other values match nothing. */
  uuid?: boolean;
  /**
   * The display of each code this parameter can match, as its code system names it: :text
   * matches the codes whose display starts with the text (without it, :text is unsupported).
   */
  displays?: readonly CodeDisplay[];
  /** Identifier.type, for :of-type: a column in the code column's row, coded in one system. */
  identifierType?: { column: ColumnRef; system: string; codes?: CodeTable };
}
export interface CodeDisplay { system: string; code: string; display: string }
export interface DateDeclaration extends Declared {
  type: 'date';
  start: ColumnRef;
  /** For periods: the end column (null = ongoing). */
  end?: string;
  /** A date column covers its whole day (UTC); a timestamp column is one instant. */
  columnType: 'date' | 'timestamp';
}
export interface ReferenceDeclaration extends Declared { type: 'reference'; column: ColumnRef; targets: string[] }
export interface NumberDeclaration extends Declared { type: 'number'; column: ColumnRef }
export interface QuantityDeclaration extends Declared {
  type: 'quantity';
  column: ColumnRef;
  system?: string;
  /** The one unit code of every value, or: */
  unit?: string;
  /** a column of the main table holding each row's unit code (in `system`). */
  unitColumn?: string;
}
export interface UriDeclaration extends Declared { type: 'uri'; column: ColumnRef }

export type SearchParameterDeclaration =
  | StringDeclaration | TokenDeclaration | DateDeclaration | ReferenceDeclaration
  | NumberDeclaration | QuantityDeclaration | UriDeclaration;

type Describe = { expression: string; description: string };

export const stringParam = (d: Describe, ...columns: ColumnRef[]): StringDeclaration => ({ type: 'string', ...d, columns });
export const wordsParam = (d: Describe, column: ColumnRef): StringDeclaration => ({ type: 'string', ...d, columns: [column], words: true });
export const tokenParam = (d: Describe, source: Omit<TokenDeclaration, keyof Declared | 'type'>): TokenDeclaration => ({ type: 'token', ...d, ...source });
export const dateParam = (d: Describe, columnType: DateDeclaration['columnType'], start: ColumnRef, end?: string): DateDeclaration => ({ type: 'date', ...d, columnType, start, end });
export const referenceParam = (d: Describe, column: ColumnRef, targets: string[]): ReferenceDeclaration => ({ type: 'reference', ...d, column, targets });
export const quantityParam = (d: Describe, column: ColumnRef, units: Pick<QuantityDeclaration, 'system' | 'unit' | 'unitColumn'>): QuantityDeclaration => ({ type: 'quantity', ...d, column, ...units });

/** Displays by code, in one system. */
export const displaysIn = (system: string, displays: Record<string, string>): CodeDisplay[] =>
  Object.entries(displays).map(([code, display]) => ({ system, code, display }));

/** The displays of a Cusp code system published in profiles/ (e.g. CodeSystem-encounter-type.json). */
export function profileDisplays(file: string): CodeDisplay[] {
  const codeSystem = JSON.parse(fs.readFileSync(new URL(`../../../profiles/${file}`, import.meta.url), 'utf8')) as fhir4.CodeSystem;
  return displaysIn(codeSystem.url ?? '', Object.fromEntries((codeSystem.concept ?? []).map((concept) => [concept.code, concept.display ?? concept.code])));
}
