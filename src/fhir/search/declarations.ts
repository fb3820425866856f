// How a mapping declares its search parameters: the parameter's type, the FHIRPath expression it
// stands for (published in the CapabilityStatement and conformance/), and the columns that
// implement it. The search compiler turns these into SQL.
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

export interface StringDeclaration extends Declared { type: 'string'; columns: ColumnRef[] }
export interface TokenDeclaration extends Declared {
  type: 'token';
  code: ColumnRef;
  /** Where the token's system comes from: a column, or one system for every row. */
  system?: ColumnRef | { fixed: string };
  /** FHIR codes ↔ column values, when the column holds schema enum values. */
  codes?: CodeTable;
  /** The code column is a uuid: other values match nothing. */
  uuid?: boolean;
}
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
export const tokenParam = (d: Describe, source: Omit<TokenDeclaration, keyof Declared | 'type'>): TokenDeclaration => ({ type: 'token', ...d, ...source });
export const dateParam = (d: Describe, columnType: DateDeclaration['columnType'], start: ColumnRef, end?: string): DateDeclaration => ({ type: 'date', ...d, columnType, start, end });
export const referenceParam = (d: Describe, column: ColumnRef, targets: string[]): ReferenceDeclaration => ({ type: 'reference', ...d, column, targets });
export const quantityParam = (d: Describe, column: ColumnRef, units: Pick<QuantityDeclaration, 'system' | 'unit' | 'unitColumn'>): QuantityDeclaration => ({ type: 'quantity', ...d, column, ...units });
