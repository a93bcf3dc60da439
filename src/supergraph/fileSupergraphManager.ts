import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { SupergraphManager } from '@apollo/gateway';
import type { Logger } from '../common/logger.js';
import { acknowledgeEnforcedSecurityFeatures } from './securityFeatures.js';

/** What became of one change of the supergraph file. */
export type SupergraphReload = { ok: true; path: string } | { ok: false; path: string; reason: string };

export interface FileSupergraphOptions {
  path: string;
  logger: Logger;
  /** Changes closer together than this are read once: editors and `cp` write a file in several steps. */
  debounceMs?: number;
  /** Called after every change was applied or rejected. */
  onReload?: (reload: SupergraphReload) => void;
}

/**
 * Serves the supergraph from a file and swaps to a new graph when the file changes, without a restart.
 *
 * A file that does not parse or is not a valid supergraph is rejected by the gateway's own `update`, which throws
 * before touching the running schema (federation gateway-js `externalSupergraphUpdateCallback`); the old graph keeps
 * serving and the rejection is logged. Requests in flight finish on the plan they started with.
 * The folder is watched rather than the file, so that a file replaced by rename (as editors and deploy tools do) is seen.
 */
export function fileSupergraphManager(options: FileSupergraphOptions): SupergraphManager {
  const path = resolve(options.path);
  const { logger } = options;
  const debounceMs = options.debounceMs ?? 100;

  return {
    async initialize({ update }) {
      let current = await readSupergraph(path);
      let watcher: FSWatcher | undefined;
      let timer: NodeJS.Timeout | undefined;
      let reading: Promise<void> = Promise.resolve();

      const reload = async () => {
        let next: string;
        try {
          next = await readSupergraph(path);
        } catch (error) {
          report({ ok: false, path, reason: (error as Error).message });
          return;
        }
        if (next === current) return;
        try {
          update(next);
          current = next;
          report({ ok: true, path });
        } catch (error) {
          report({ ok: false, path, reason: firstLine((error as Error).message) });
        }
      };

      const report = (result: SupergraphReload) => {
        if (result.ok) logger.info({ path }, 'supergraph reloaded');
        else logger.error({ path, reason: result.reason }, 'supergraph change rejected; the previous graph keeps serving');
        try {
          options.onReload?.(result);
        } catch (error) {
          logger.error({ err: error }, 'a supergraph reload listener failed');
        }
      };

      // Any change in the folder is read: Kubernetes updates a mounted ConfigMap by swapping a `..data` symlink, so
      // the event names that link, not the file. Reading an unchanged file costs little and changes nothing.
      watcher = watch(dirname(path), () => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          reading = reading.then(reload).catch((error: unknown) => logger.error({ err: error, path }, 'reading the supergraph failed'));
        }, debounceMs);
      });
      watcher.on('error', (error) => logger.error({ err: error, path }, 'watching the supergraph file failed; hot reload is off'));

      return {
        supergraphSdl: current,
        cleanup: async () => {
          clearTimeout(timer);
          watcher?.close();
          watcher = undefined;
          await reading;
        },
      };
    },
  };
}

async function readSupergraph(path: string): Promise<string> {
  const sdl = await readFile(path, 'utf8');
  if (sdl.trim() === '') throw new Error(`${path} is empty`);
  return acknowledgeEnforcedSecurityFeatures(sdl);
}

function firstLine(message: string): string {
  return message.split('\n', 1)[0] ?? message;
}
