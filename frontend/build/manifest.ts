import { readFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { generatePersistedQueryManifest, type PersistedQueryManifest, type PersistedQueryManifestConfig } from '@apollo/generate-persisted-query-manifest';

/** The config `npm run manifest` passes to Apollo's generator; its paths are relative to the project's root. */
export const MANIFEST_CONFIG_PATH = 'frontend/persisted-query-manifest.config.json';

export interface ManifestCheck {
  /** The committed manifest, relative to the project's root. */
  path: string;
  upToDate: boolean;
  /** What the operations under `frontend/src/operations/` compile to now. */
  generated: PersistedQueryManifest;
}

/**
 * Generates the manifest the way `npm run manifest` does (Apollo's `generate-persisted-query-manifest` with the same
 * config, in this process) and compares it with the committed file, by content, not by formatting.
 */
export async function checkManifest(projectDir: string): Promise<ManifestCheck> {
  const configFile = join(projectDir, MANIFEST_CONFIG_PATH);
  const config = JSON.parse(await readFile(configFile, 'utf8')) as PersistedQueryManifestConfig & { documents: string[]; output: string };
  // The generator globs relative to the working directory; anchoring the patterns at the project makes the check
  // independent of where it runs (a test runner's directory, say).
  const anchored = config.documents.map((pattern) => (pattern.startsWith('!') ? `!${anchor(projectDir, pattern.slice(1))}` : anchor(projectDir, pattern)));
  const generated = await generatePersistedQueryManifest({ ...config, documents: anchored }, configFile);
  const committed: unknown = JSON.parse(await readFile(join(projectDir, config.output), 'utf8').catch(() => 'null'));
  return { path: config.output, upToDate: isDeepStrictEqual(committed, generated), generated };
}

function anchor(projectDir: string, pattern: string): string {
  return isAbsolute(pattern) ? pattern : join(projectDir, pattern);
}
