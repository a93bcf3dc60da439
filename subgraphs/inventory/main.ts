import { runSubgraph } from '../shared/runSubgraph.js';
import { createInventorySubgraph } from './subgraph.js';

await runSubgraph(createInventorySubgraph(), process.env);
