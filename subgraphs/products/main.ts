import { runSubgraph } from '../shared/runSubgraph.js';
import { createProductsSubgraph } from './subgraph.js';

await runSubgraph(createProductsSubgraph(), process.env);
