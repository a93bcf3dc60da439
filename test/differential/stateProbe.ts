import { createRemoteJWKSet, generateKeyPair, SignJWT, type JWTVerifyGetKey } from 'jose';
import type { GatewayTrust } from '../../subgraphs/shared/gatewayTrust.js';
import type { ProductRecord } from '../../subgraphs/products/data.js';
import type { ReviewRecord } from '../../subgraphs/reviews/data.js';
import { SUBGRAPH_NAMES, type Stack, type SubgraphName } from '../harness.js';
import type { DemoState } from './monolith.js';

/** What mutations change, in a form both sides can be compared in: the catalog and the reviews, in order. */
export interface StateView {
  products: ProductRecord[];
  reviews: ReviewRecord[];
}

export function viewOf(state: DemoState): StateView {
  return { products: [...state.products.values()].map((product) => ({ ...product })), reviews: [...state.reviews.values()].map((review) => ({ ...review })) };
}

/** Makes the monolith hold what the subgraphs hold (after a difference, so that one difference does not cascade). */
export function adoptView(state: DemoState, view: StateView): void {
  state.products = new Map(view.products.map((product) => [product.upc, { ...product }]));
  state.reviews = new Map(view.reviews.map((review) => [review.id, { ...review }]));
  state.lastReviewId = Math.max(state.lastReviewId, ...view.reviews.map((review) => Number(review.id)));
}

const PROBE_KID = 'differential-state-probe';
/** Review ids beyond the monolith's counter still looked for, in case the gateway created reviews the monolith did not. */
const EXTRA_REVIEW_IDS = 20;

/**
 * Reads what the products and reviews subgraphs hold, straight from them. Subgraphs trust only the gateway, so the
 * probe starts them trusting the gateway's keys and its own: `trust` goes to `startStack`, then `attach` names the
 * gateway whose keys to fetch. The probe only reads, and only after an operation has finished.
 */
export interface StateProbe {
  trust: Record<SubgraphName, GatewayTrust>;
  attach(stack: Stack): void;
  read(lastReviewId: number): Promise<StateView>;
}

export async function createStateProbe(): Promise<StateProbe> {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  let gatewayKeys: JWTVerifyGetKey | undefined;
  let stack: Stack | undefined;
  const trust = {} as Record<SubgraphName, GatewayTrust>;
  for (const name of SUBGRAPH_NAMES) {
    trust[name] = {
      // The issuer the harness's gateway signs subgraph tokens as.
      issuer: 'graphql-gateway',
      keys: async (header, token) => {
        if (header.kid === PROBE_KID) return publicKey;
        if (gatewayKeys === undefined) throw new Error('the gateway has not started');
        return gatewayKeys(header, token);
      },
    };
  }

  const ask = async <T>(subgraph: SubgraphName, query: string, variables: Record<string, unknown> = {}): Promise<T> => {
    if (stack === undefined) throw new Error('the probe is not attached to a stack');
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: PROBE_KID }).setIssuer('graphql-gateway').setAudience(subgraph).setExpirationTime('5m').sign(privateKey);
    const response = await fetch(stack.subgraphs[subgraph].url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await response.json()) as { data?: T; errors?: unknown[] };
    if (body.data === undefined || body.errors !== undefined) throw new Error(`the ${subgraph} subgraph did not answer the probe: ${JSON.stringify(body)}`);
    return body.data;
  };

  return {
    trust,
    attach(started) {
      stack = started;
      gatewayKeys = createRemoteJWKSet(new URL('/.well-known/jwks.json', started.url), { cooldownDuration: 1_000 });
    },
    async read(lastReviewId) {
      const { topProducts } = await ask<{ topProducts: ProductRecord[] }>('products', '{ topProducts(first: 100) { upc name price weight costPrice } }');
      const representations = Array.from({ length: lastReviewId + EXTRA_REVIEW_IDS }, (_, index) => ({ __typename: 'Review', id: String(index + 1) }));
      const { _entities: entities } = await ask<{ _entities: ({ id: string; body: string; rating: number; product: { upc: string }; author: { id: string } | null } | null)[] }>(
        'reviews',
        'query Probe($representations: [_Any!]!) { _entities(representations: $representations) { ... on Review { id body rating product { upc } author { id } } } }',
        { representations },
      );
      const reviews = entities.flatMap((review) => (review === null ? [] : [{ id: review.id, upc: review.product.upc, authorId: review.author?.id ?? null, rating: review.rating, body: review.body }]));
      return { products: topProducts, reviews };
    },
  };
}
