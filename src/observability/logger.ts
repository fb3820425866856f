// Structured JSON logs. Nothing that can carry PHI (query strings, bodies, names) is logged.
import pino from 'pino';

export type Logger = pino.Logger;

export function createLogger(level: string): Logger {
  return pino({ level, base: { service: 'cusp' }, timestamp: pino.stdTimeFunctions.isoTime });
}
