import { prettyFactory } from 'pino-pretty';

export interface PrettyOutputOptions {
  /** ANSI colours, for a terminal that shows them. */
  colorize: boolean;
}

/**
 * Makes the lines services write readable for a person at a terminal (`npm start` on a TTY). A pino line (a JSON
 * object with a `level`) becomes pino-pretty's one-line form, `[reviews] [14:03:07.412] INFO: listening {"url":…}`,
 * and every line of it (an error's stack spans several) starts with the service's name. Any other line comes back
 * as it is. The result has no trailing newline, like the line given.
 */
export function createPrettyOutput(options: PrettyOutputOptions): (service: string, line: string) => string {
  const pretty = prettyFactory({
    colorize: options.colorize,
    // One line per entry keeps five processes' output apart; the extra fields follow the message as JSON.
    singleLine: true,
    translateTime: 'SYS:HH:MM:ss.l',
    // The prefix names the service; pid and hostname are the same for every line of a local run.
    ignore: 'pid,hostname,service',
  });
  return (service, line) => {
    const entry = pinoEntry(line);
    if (entry === undefined) return line;
    return pretty(entry)
      .replace(/\r?\n$/, '')
      .split('\n')
      .map((part) => `[${service}] ${part.trimEnd()}`)
      .join('\n');
  };
}

function pinoEntry(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === 'object' && value !== null && 'level' in value ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
