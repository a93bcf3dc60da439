import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { describe, it } from 'vitest';

/** Debian's Chromium, which playwright-core drives (it downloads no browser); `.ci/run` installs it when it is missing. */
const CHROMIUM = '/usr/bin/chromium';
const LAUNCH_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

/** Why the browser tests cannot run here, or undefined when they can. */
const MISSING_CHROMIUM = existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is missing: apt-get install chromium (.ci/run does)`;

/** `CI` set to anything but empty, as CI services set it. */
const IN_CI = (process.env['CI'] ?? '') !== '';

/**
 * A describe block of browser tests. Without Chromium it is skipped on a developer's machine (its title says why);
 * under CI it is one failing test that says what is missing instead: a CI that could not install Chromium must not
 * pass without its browser tests.
 */
export function describeInChromium(title: string, tests: () => void): void {
  if (MISSING_CHROMIUM === undefined) {
    describe(title, tests);
  } else if (!IN_CI) {
    describe.skip(`${title} (skipped: ${MISSING_CHROMIUM})`, tests);
  } else {
    describe(title, () => {
      it('has Chromium to run in', () => {
        throw new Error(`${MISSING_CHROMIUM}. CI is set, so the browser tests fail instead of being skipped.`);
      });
    });
  }
}

/** Chromium, headless, for the tests of a `describeInChromium` block. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS });
}
