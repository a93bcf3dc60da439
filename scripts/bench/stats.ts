// Small statistics shared by the workloads and the side-load worker (which must not load autocannon).

/** The middle value (the upper one of an even count, as the benchmark always reported). */
export function medianOf(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

/** The value below which `fraction` of `sorted` (ascending) lies, nearest rank. */
export function percentile(sorted: readonly number[], fraction: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1))] ?? 0;
}

/** The rounds a workload's phases run in: each round starts one phase later, so that drift hits every phase alike. */
export function rotations<T>(phases: readonly T[], rounds: number): T[][] {
  return Array.from({ length: rounds }, (_, round) => phases.map((_, index) => phases[(index + round) % phases.length] as T));
}
