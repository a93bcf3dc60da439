import { runSubgraph } from '../shared/runSubgraph.js';
import { createReviewsSubgraph } from './subgraph.js';

await runSubgraph(createReviewsSubgraph(), process.env);
