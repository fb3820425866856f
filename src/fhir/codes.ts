// Explicit correspondences between FHIR codes and the schema's enum values. A FHIR code with no
// correspondence is refused with 422 naming the element — never stored as something else.
import { unprocessable } from '../http/errors.ts';

export interface CodeTable<Column extends string = string> {
  /** The column value for a FHIR code; 422 naming `element` when there is none. */
  toColumn(code: string, element: string): Column;
  /** The FHIR code for a column value, undefined for values FHIR has no code for. */
  toCode(column: unknown): string | undefined;
  /** The column values a search for this FHIR code matches: the code's own, and those that read as it. */
  columnsReadAs(code: string): Column[];
  readonly codes: string[];
}

/**
 * `readOnly` renders column values that no FHIR code stands for as the nearest code (reads
 * only: a write of that code stores its own column value). Use it where the FHIR element is
 * required and every row must render to some code.
 */
export function codeTable<Column extends string>(fhirToColumn: Record<string, Column>, readOnly: Record<string, string> = {}): CodeTable<Column> {
  const columnToFhir = new Map<string, string>();
  for (const [code, column] of Object.entries(fhirToColumn)) if (!columnToFhir.has(column)) columnToFhir.set(column, code);
  for (const [column, code] of Object.entries(readOnly)) if (!columnToFhir.has(column)) columnToFhir.set(column, code);
  return {
    codes: Object.keys(fhirToColumn),
    toColumn(code, element) {
      const column = fhirToColumn[code];
      if (column === undefined) {
        throw unprocessable(`${element}: "${code}" has no mapping; supported codes are ${Object.keys(fhirToColumn).join(', ')}`, element);
      }
      return column;
    },
    toCode(column) {
      return typeof column === 'string' ? columnToFhir.get(column) : undefined;
    },
    columnsReadAs(code) {
      const columns = new Set<Column>(fhirToColumn[code] === undefined ? [] : [fhirToColumn[code]]);
      for (const [column, fhirCode] of columnToFhir) if (fhirCode === code) columns.add(column as Column);
      return [...columns];
    },
  };
}

/** A boolean column as a FHIR boolean token ("true" / "false"), e.g. the active search parameters. */
export const BOOLEAN = codeTable({ true: 'true', false: 'false' });
