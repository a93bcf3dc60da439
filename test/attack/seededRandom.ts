/**
 * The fuzzers' random numbers: mulberry32 from `FUZZ_SEED` (else the fuzzer's own default seed), so that a failing
 * run can be replayed exactly.
 */
export function seededRandom(defaultSeed: number): { rand: () => number; pick: <T>(items: readonly T[]) => T } {
  let seed = Number(process.env['FUZZ_SEED'] ?? defaultSeed);
  const rand = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { rand, pick: <T,>(items: readonly T[]): T => items[Math.floor(rand() * items.length)] as T };
}
