import { runSubgraph } from '../shared/runSubgraph.js';
import { createAccountsSubgraph } from './subgraph.js';

await runSubgraph(createAccountsSubgraph(), process.env);
