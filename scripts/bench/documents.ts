// The abusive documents the abuse and planMiss workloads send. Each generator numbers its documents so that every one
// is new text: no cache of the gateway's (parsed and validated documents, query plans) can answer it, as none could
// answer an attacker who varies a name.

/** The five fragment-expansion bomb shapes, 0.8 to 1.5 KB each, each 2^20 selections once expanded. */
export const BOMB_SHAPES = ['deep', 'topProducts', 'unknownField', 'typename', 'inlineSpreads'] as const;
export type BombShape = (typeof BOMB_SHAPES)[number];

// An 11-level selection through three subgraphs: deeper than MAX_DEPTH, so that only the expansion bound may answer.
const DEEP = 'topProducts { reviews { author { reviews { product { reviews { author { reviews { product { reviews { author { name } } } } } } } } } } }';
const LEAVES: Record<Exclude<BombShape, 'inlineSpreads'>, string> = {
  deep: DEEP,
  topProducts: 'topProducts { name }',
  unknownField: 'notAField',
  typename: '__typename',
};

/**
 * `query BombN { ...F20 } fragment F0 on Query { <leaf> } fragment F1 on Query { ...F0 ...F0 } ...`: 2^20 copies of
 * the leaf once every spread is expanded. `inlineSpreads` puts each pair of spreads inside inline fragments.
 */
export function bombDocument(shape: BombShape, n: number): string {
  const fragments = [`fragment F0 on Query { ${shape === 'inlineSpreads' ? LEAVES.topProducts : LEAVES[shape]} }`];
  for (let level = 1; level <= 20; level += 1) {
    const spread = `...F${level - 1}`;
    const body = shape === 'inlineSpreads' ? `... on Query { ${spread} } ... on Query { ${spread} }` : `${spread} ${spread}`;
    fragments.push(`fragment F${level} on Query { ${body} }`);
  }
  return `query Bomb${n} { ...F20 } ${fragments.join(' ')}`;
}

/**
 * The document graphql-js's OverlappingFieldsCanBeMerged rule takes longest on for its size: 490 copies of one field,
 * which it compares pairwise (quadratic), just under MAX_TOKENS (1964 of 2000 parser tokens, about 10 KB).
 */
export function quadraticDocument(n: number): string {
  return `query Quadratic${n} { ${'topProducts { name } '.repeat(490)}}`;
}

// One root field of a plan-miss document: four subgraphs, entity joins both ways, @requires (shippingEstimate) and
// @provides (username), depth 8. `first: 0` makes its estimated cost 0 while the planner still plans all of it: the
// cheapest document to have planned, so the plan-miss charge is the only thing standing between it and the planner.
const PLANNED_TREE =
  'topProducts(first: 0) { upc name price weight inStock shippingEstimate reviews(first: 0) { id body rating author { id name username reviews(first: 0) { id body product { upc name price inStock shippingEstimate reviews(first: 0) { id author { name username } } } } } } }';

/**
 * The n-th plan-miss document: ten aliased root fields (MAX_ROOT_FIELDS) of `PLANNED_TREE`, within every limit
 * (depth 8 of 10, 10 aliases of 15, cost 0 of 10000, about 700 of 2000 tokens), made new text by the alias suffix.
 */
export function planMissDocument(n: number): string {
  const roots = Array.from({ length: 10 }, (_, index) => `p${index}_${n}: ${PLANNED_TREE}`);
  return `query PlanMiss${n} { ${roots.join(' ')} }`;
}

/** The answer every planMiss document gets (less the newline Apollo Server ends it with): ten empty lists. */
export function planMissAnswer(n: number): string {
  const data = Object.fromEntries(Array.from({ length: 10 }, (_, index) => [`p${index}_${n}`, []]));
  return JSON.stringify({ data });
}
