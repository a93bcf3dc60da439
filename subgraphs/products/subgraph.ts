import { createSubgraph, type Subgraph } from '../shared/subgraphServer.js';
import { loadSubgraphTypeDefs } from '../shared/schemaFile.js';
import { userInputError } from '../shared/userInputError.js';
import { PRODUCTS, type ProductRecord } from './data.js';

/** The largest `first` that `topProducts` serves; a larger one is clamped, a negative one refused. */
const MAX_TOP_PRODUCTS = 100;

/** The products subgraph: the catalog and its prices. */
export function createProductsSubgraph(): Subgraph {
  const products = new Map<string, ProductRecord>(PRODUCTS.map((product) => [product.upc, { ...product }]));

  function requirePrice(price: number, argumentName: string): void {
    if (price < 0) throw userInputError(`${argumentName} must not be negative`, argumentName);
  }

  return createSubgraph({
    name: 'products',
    typeDefs: loadSubgraphTypeDefs('products'),
    resolvers: {
      Query: {
        topProducts: (_parent: unknown, args: { first: number }) => {
          if (args.first < 0) throw userInputError('first must not be negative', 'first');
          return [...products.values()].slice(0, Math.min(args.first, MAX_TOP_PRODUCTS));
        },
        product: (_parent: unknown, args: { upc: string }) => products.get(args.upc) ?? null,
      },
      Mutation: {
        createProduct: (_parent: unknown, args: { upc: string; name: string; price: number; weight?: number | null }) => {
          const upc = args.upc.trim();
          if (upc === '') throw userInputError('upc must not be empty', 'upc');
          if (products.has(upc)) throw userInputError(`A product with upc "${upc}" already exists`, 'upc');
          if (args.name.trim() === '') throw userInputError('name must not be empty', 'name');
          requirePrice(args.price, 'price');
          if (args.weight != null && args.weight < 0) throw userInputError('weight must not be negative', 'weight');
          const product: ProductRecord = { upc, name: args.name.trim(), price: args.price, weight: args.weight ?? null, costPrice: 0 };
          products.set(upc, product);
          return product;
        },
        updatePrice: (_parent: unknown, args: { upc: string; price: number }) => {
          const product = products.get(args.upc);
          if (!product) throw userInputError(`No product with upc "${args.upc}"`, 'upc');
          requirePrice(args.price, 'price');
          product.price = args.price;
          return product;
        },
      },
      Product: {
        __resolveReference: (reference: { upc: string }) => products.get(reference.upc) ?? null,
      },
    },
  });
}
