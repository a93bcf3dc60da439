import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { Logger } from '../common/logger.js';
import { parseManifest, type TrustedDocument } from './manifest.js';

/** The trusted documents of every manifest, looked up by the id clients send or by the hash of a full document. */
export interface TrustedDocumentList {
  /** By the manifest id (`sha256Hash` / `documentId`). */
  byId(id: string): TrustedDocument | undefined;
  /**
   * By the full text of a document a client sent. Equal texts are what equal SHA-256 hashes stand for, and a map
   * lookup by text costs no hashing of every request's document.
   */
  byBody(body: string): TrustedDocument | undefined;
  documents(): readonly TrustedDocument[];
  /** Told each time the list changed (the documents are prepared again for the running schema). */
  onChange(listener: (documents: readonly TrustedDocument[]) => void): void;
  close(): void;
}

export interface TrustedDocumentListOptions {
  manifests: readonly string[];
  logger: Logger;
  /** Watch the manifests and swap to a changed list (a bad file is refused; the old list keeps serving). */
  watch: boolean;
  debounceMs?: number;
}

/** Reads every manifest: one list, or an error naming the file. Two manifests may not give one id two bodies. */
export async function readTrustedDocuments(manifests: readonly string[]): Promise<TrustedDocument[]> {
  const byId = new Map<string, TrustedDocument>();
  for (const path of manifests) {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      throw new Error(`the trusted document manifest ${path} cannot be read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    for (const document of parseManifest(text, path)) {
      const known = byId.get(document.id);
      if (known !== undefined && known.body !== document.body) throw new Error(`${known.manifest} and ${path} give the id ${document.id} different documents`);
      byId.set(document.id, known ?? document);
    }
  }
  return [...byId.values()];
}

/**
 * Loads the manifests once (throws if one is bad: the gateway does not start on a broken list) and, when asked,
 * watches their folders (a file replaced by rename, as deploy tools do, is seen) and swaps to the new list when they
 * change. A change that does not read is logged and refused: the previous list keeps serving.
 */
export async function createTrustedDocumentList(options: TrustedDocumentListOptions): Promise<TrustedDocumentList> {
  const { logger } = options;
  const paths = options.manifests.map((path) => resolve(path));
  const listeners: ((documents: readonly TrustedDocument[]) => void)[] = [];
  let current = index(await readTrustedDocuments(paths));
  const watchers: FSWatcher[] = [];
  let timer: NodeJS.Timeout | undefined;

  const reload = async () => {
    try {
      const next = await readTrustedDocuments(paths);
      const text = JSON.stringify(next);
      if (text === current.text) return;
      current = index(next);
      logger.info({ manifests: paths, documents: next.length }, 'trusted documents reloaded');
      for (const listener of listeners) listener(next);
    } catch (error) {
      logger.error({ reason: (error as Error).message }, 'trusted document change refused; the previous list keeps serving');
    }
  };

  if (options.watch) {
    // Any change in a manifest's folder rereads the list (a change that leaves it as it was changes nothing): a
    // Kubernetes ConfigMap update names none of the files, only the `..data` symlink it swaps.
    for (const folder of new Set(paths.map((path) => dirname(path)))) {
      const watcher = watch(folder, () => {
        clearTimeout(timer);
        timer = setTimeout(() => void reload(), options.debounceMs ?? 100);
      });
      watcher.on('error', (error) => logger.error({ err: error, folder }, 'cannot watch the trusted document manifests'));
      watchers.push(watcher);
    }
  }

  return {
    byId: (id) => current.byId.get(id),
    byBody: (body) => current.byBody.get(body),
    documents: () => current.documents,
    onChange: (listener) => void listeners.push(listener),
    close() {
      clearTimeout(timer);
      for (const watcher of watchers) watcher.close();
    },
  };
}

function index(documents: readonly TrustedDocument[]) {
  return {
    documents,
    byId: new Map(documents.map((document) => [document.id, document])),
    byBody: new Map(documents.map((document) => [document.body, document])),
    text: JSON.stringify(documents),
  };
}
