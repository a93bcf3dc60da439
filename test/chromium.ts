import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { describeNeeding } from './machineTools.js';

/** Debian's Chromium, which playwright-core drives (it downloads no browser); `.ci/run` installs it when it is missing. */
const CHROMIUM = '/usr/bin/chromium';
const LAUNCH_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

/** Why the browser tests cannot run here, or undefined when they can. */
const MISSING_CHROMIUM = existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is missing: apt-get install chromium (.ci/run does)`;

/** A describe block of browser tests: skipped without Chromium on a developer's machine, failing under CI. */
export function describeInChromium(title: string, tests: () => void): void {
  describeNeeding(MISSING_CHROMIUM, title, tests);
}

/** Chromium, headless, for the tests of a `describeInChromium` block. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS });
}
