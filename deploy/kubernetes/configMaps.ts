// Writes the ConfigMaps that carry the gateway's files into the cluster from the files they are made of: the composed
// supergraph (schema/supergraph.graphql, `npm run compose`) and the storefront's trusted documents
// (frontend/persisted-query-manifest.json, `npm run manifest`), and the manifest's hash on the gateway's pod template.
//
//   npx tsx deploy/kubernetes/configMaps.ts           rewrite them
//   npx tsx deploy/kubernetes/configMaps.ts --check   fail, naming the stale files, if they differ (test/kubernetes.test.ts does too)
//
// Kustomize's configMapGenerator cannot read these files: it refuses anything outside the kustomization's folder.
import { readFile, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';

/** The repository's root. */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const MANIFESTS_DIR = join(ROOT, 'deploy', 'kubernetes', 'manifests');
export const SUPERGRAPH_SOURCE = join(ROOT, 'schema', 'supergraph.graphql');
export const TRUSTED_DOCUMENTS_SOURCE = join(ROOT, 'frontend', 'persisted-query-manifest.json');
/** The pod template annotation that rolls the gateway when the trusted documents change. */
export const REGENERATE_COMMAND = 'npx tsx deploy/kubernetes/configMaps.ts';

export interface GeneratedFile {
  path: string;
  text: string;
}

const SUPERGRAPH_HEADER = `# GENERATED from schema/supergraph.graphql by \`${REGENERATE_COMMAND}\`: do not edit.
#
# The composed supergraph, mounted as a folder at /etc/gateway/supergraph (SUPERGRAPH_PATH), never with subPath (a
# subPath mount is not updated). The kubelet updates it by writing a new timestamped folder and renaming a
# \`..data_tmp\` symlink over \`..data\`; supergraph.graphql itself is a symlink to ..data/supergraph.graphql and never
# changes. The gateway's watcher follows this: src/supergraph/fileSupergraphManager.ts watches the folder, not the
# file, and re-reads the file on every event in it, whatever name the event carries, so the rename of ..data makes it
# read the new graph and swap to it without a restart (test/hotReload.test.ts reproduces the swap). An invalid graph
# is refused and the old one keeps serving. Updates arrive within the kubelet's sync period (about a minute).
`;

const TRUSTED_DOCUMENTS_HEADER = `# GENERATED from frontend/persisted-query-manifest.json by \`${REGENERATE_COMMAND}\`: do not edit.
#
# The storefront's operations, the only ones the gateway serves (TRUSTED_DOCUMENTS=enforce), mounted as a folder at
# /etc/gateway/trusted-documents (TRUSTED_DOCUMENTS_MANIFESTS). The gateway follows an update as it follows the
# supergraph's: src/trustedDocuments/trustedDocumentList.ts watches the folder and rereads the list on every event in
# it (the kubelet's update names only \`..data\`, \`..data_tmp\` and its timestamped folders; test/trustedDocuments.test.ts
# reproduces the swap). A manifest that does not read is refused and the old list keeps serving.
`;

function configMap(name: string, key: string, content: string): string {
  const document = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name,
      namespace: 'graphql-gateway',
      labels: { 'app.kubernetes.io/name': 'gateway', 'app.kubernetes.io/component': 'gateway', 'app.kubernetes.io/part-of': 'graphql-federation' },
    },
    data: { [key]: content },
  };
  return stringify(document, { blockQuote: 'literal', lineWidth: 0 });
}

/** Every file this script writes, as it should be now. */
export async function renderConfigMaps(): Promise<GeneratedFile[]> {
  const supergraph = await readFile(SUPERGRAPH_SOURCE, 'utf8');
  const manifest = await readFile(TRUSTED_DOCUMENTS_SOURCE, 'utf8');
  return [
    { path: join(MANIFESTS_DIR, 'gateway-supergraph.yaml'), text: SUPERGRAPH_HEADER + configMap('gateway-supergraph', 'supergraph.graphql', supergraph) },
    {
      path: join(MANIFESTS_DIR, 'gateway-trusted-documents.yaml'),
      text: TRUSTED_DOCUMENTS_HEADER + configMap('gateway-trusted-documents', 'persisted-query-manifest.json', manifest),
    },
  ];
}

/** The generated files whose content on disk differs from what they should be, relative to the repository's root. */
export async function staleFiles(): Promise<string[]> {
  const stale: string[] = [];
  for (const file of await renderConfigMaps()) {
    const current = await readFile(file.path, 'utf8').catch(() => undefined);
    if (current !== file.text) stale.push(relative(ROOT, file.path));
  }
  return stale;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  if (process.argv.includes('--check')) {
    const stale = await staleFiles();
    if (stale.length > 0) {
      process.stderr.write(`Stale Kubernetes manifests, run \`${REGENERATE_COMMAND}\`:\n${stale.map((path) => `  - ${path}`).join('\n')}\n`);
      process.exit(1);
    }
  } else {
    for (const file of await renderConfigMaps()) await writeFile(file.path, file.text);
  }
}
