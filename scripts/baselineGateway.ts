// The benchmark's baseline: plain @apollo/gateway in @apollo/server with default settings, on the same supergraph
// and subgraphs as this gateway. Two deviations only, both needed to reach the same subgraphs at all:
// - the supergraph's `for: SECURITY` links are acknowledged (a plain gateway refuses the file otherwise; it then
//   ignores @authenticated/@policy, as it always does);
// - each subgraph request carries a gateway token minted by the benchmark (SUBGRAPH_TOKENS, JSON by subgraph name),
//   since the demo subgraphs answer nobody else.
import { readFileSync } from 'node:fs';
import { ApolloGateway, RemoteGraphQLDataSource } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { acknowledgeEnforcedSecurityFeatures } from '../src/supergraph/securityFeatures.js';

process.env['APOLLO_TELEMETRY_DISABLED'] = 'true';
const supergraphSdl = acknowledgeEnforcedSecurityFeatures(readFileSync(process.env['SUPERGRAPH_PATH'] ?? 'schema/supergraph.graphql', 'utf8'));
const tokens = JSON.parse(process.env['SUBGRAPH_TOKENS'] ?? '{}') as Record<string, string>;
const urls = JSON.parse(process.env['SUBGRAPH_URLS'] ?? '{}') as Record<string, string>;

const gateway = new ApolloGateway({
  supergraphSdl,
  buildService: ({ name, url }) =>
    new RemoteGraphQLDataSource({
      url: urls[name] ?? url,
      willSendRequest({ request }) {
        request.http?.headers.set('authorization', `Bearer ${tokens[name] ?? ''}`);
      },
    }),
});
const server = new ApolloServer({ gateway });
const { url } = await startStandaloneServer(server, { listen: { host: '127.0.0.1', port: Number(process.env['PORT'] ?? 4100) } });
process.stdout.write(`${JSON.stringify({ msg: 'listening', url })}\n`);
