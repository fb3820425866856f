// The side-by-side table printed after the DICOMweb measurements of two servers.
import type { Measurement } from './measure.ts';

export interface ServerResults {
  server: string;
  /** By measurement name: the figures, or why the measurement was skipped. */
  results: Map<string, Measurement | { skipped: string }>;
}

const figure = (value: number | undefined) => (value === undefined || Number.isNaN(value) ? '-' : String(value));

/** One row per measurement: rate, MB/s and p50/p99 of each server, and the first server's rate over the second's. */
export function printComparison([first, second]: ServerResults[]): void {
  if (!first || !second) return;
  const names = [...new Set([...first.results.keys(), ...second.results.keys()])];
  const header = ['measurement', `${first.server} /s`, `${second.server} /s`, `${first.server}/${second.server}`,
    `${first.server} MB/s`, `${second.server} MB/s`, `${first.server} p50/p99 ms`, `${second.server} p50/p99 ms`];
  const rows = names.map((name) => {
    const a = first.results.get(name);
    const b = second.results.get(name);
    const measured = (result: typeof a) => (result && 'perSecond' in result ? result : undefined);
    const [ma, mb] = [measured(a), measured(b)];
    const rate = (result: typeof a, m: Measurement | undefined) => (m ? figure(m.perSecond) : result ? 'skipped' : '-');
    const ratio = ma && mb && mb.perSecond > 0 ? `${(ma.perSecond / mb.perSecond).toFixed(2)}x` : '-';
    const latency = (m: Measurement | undefined) => (m ? `${figure(m.p50ms)}/${figure(m.p99ms)}` : '-');
    return [name, rate(a, ma), rate(b, mb), ratio, figure(ma?.MBps), figure(mb?.MBps), latency(ma), latency(mb)];
  });
  const widths = header.map((_, column) => Math.max(...[header, ...rows].map((row) => row[column]!.length)));
  const line = (row: string[]) => row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join(' | ');
  console.log(`\nDICOMweb side by side (/s: instances for STOW-RS, requests otherwise; ${first.server}/${second.server}: ratio of the rates)`);
  console.log(line(header));
  console.log(widths.map((width) => '-'.repeat(width)).join('-|-'));
  for (const row of rows) console.log(line(row));
}
