import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

export interface LoggerOptions {
  level: string;
  /** Where JSON lines go; standard output when absent. */
  destination?: DestinationStream;
  /** Fields on every line, e.g. `{ service: 'gateway' }`. */
  base?: Record<string, unknown>;
}

/**
 * Structured JSON logs. Credentials never reach a log line: headers that carry them are redacted wherever they
 * appear in a logged request.
 */
export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: options.level,
      base: options.base ?? null,
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization', 'headers.cookie'],
        censor: '[redacted]',
      },
    },
    options.destination,
  );
}

/**
 * A logger for lifecycle lines (`listening`, `stopped`) that are written whatever LOG_LEVEL says: the launcher reads
 * `listening` to learn where a process serves, and an operator should always see a process start and stop.
 */
export function lifecycleLogger(logger: Logger): Logger {
  return logger.isLevelEnabled('info') ? logger : logger.child({}, { level: 'info' });
}
