import { describe, it } from 'vitest';

/** `CI` set to anything but empty, as CI services set it (and `.ci/run` does). */
const IN_CI = (process.env['CI'] ?? '') !== '';

/**
 * A describe block of tests that need a program of this machine's (Chromium, HAProxy, docker-compose), which
 * `.ci/run` installs when it is missing. `missing` says why they cannot run here (undefined: they can). Without the
 * program they are skipped on a developer's machine, the title saying why, so that `npm test` stays one command on a
 * fresh machine; under CI they are one failing test that says what is missing instead: a CI that could not install
 * the program must not pass without the tests that need it.
 */
export function describeNeeding(missing: string | undefined, title: string, tests: () => void): void {
  if (missing === undefined) {
    describe(title, tests);
  } else if (!IN_CI) {
    describe.skip(`${title} (skipped: ${missing})`, tests);
  } else {
    describe(title, () => {
      it('has what it needs to run', () => {
        throw new Error(`${missing}. CI is set, so these tests fail instead of being skipped.`);
      });
    });
  }
}
