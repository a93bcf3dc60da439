/** What a command reads and writes, so that it runs in a test as it runs in a terminal. */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
}

/** The real process's streams, environment and folder. */
export const processIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
  cwd: process.cwd(),
};

/** A command: its arguments (after the command's name) in, its exit code out. */
export type Command = (args: string[], io: CliIo) => Promise<number>;
