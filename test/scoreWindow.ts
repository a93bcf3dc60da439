import { setTimeout as sleep } from 'node:timers/promises';

/**
 * The suspicion window of the tests that send signals in real time (CLIENT_BLOCKING_WINDOW_SEC, `decayWindowSec`): an
 * hour. Scores are counted in windows that start at fixed multiples of their length since the epoch (clientGuard.ts),
 * and a signal sent before an edge weighs a little less after it: exactly threshold / weight signals sent across an
 * edge (10 × `invalid` = 100) reach 99.99, not 100, and block nobody. An hour makes an edge within a test rare;
 * `clearOfWindowEdge` makes it impossible.
 */
export const TEST_WINDOW_SEC = 3_600;

/** Longer than any sequence of signals a test sends in real time, waits on Redis coming back included. */
const SEQUENCE_MARGIN_MS = 30_000;

/**
 * Waits, when the next window edge is less than `marginMs` away, until just past it: a sequence that starts after
 * this and lasts less than `marginMs` is counted in one window. For a `beforeEach` (its timeout allows the wait, which
 * a test's own might not).
 */
export async function clearOfWindowEdge(windowSec = TEST_WINDOW_SEC, marginMs = SEQUENCE_MARGIN_MS): Promise<void> {
  const windowMs = windowSec * 1000;
  if (marginMs >= windowMs) throw new Error(`a margin of ${marginMs} ms leaves no room in a window of ${windowSec} s`);
  const untilEdge = windowMs - (Date.now() % windowMs);
  if (untilEdge < marginMs) await sleep(untilEdge + 100);
}
