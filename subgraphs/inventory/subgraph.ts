import { createSubgraph, type Subgraph } from '../shared/subgraphServer.js';
import { loadSubgraphTypeDefs } from '../shared/schemaFile.js';

/** Products that are out of stock; every other product is in stock. */
const OUT_OF_STOCK: ReadonlySet<string> = new Set(['3', '7']);

/** Above this price (in cents) shipping is free. */
const FREE_SHIPPING_ABOVE = 1000;

interface ProductReference {
  upc: string;
  price?: number | null;
  weight?: number | null;
}

/** The inventory subgraph: stock and shipping, computed from the price and weight the products subgraph owns. */
export function createInventorySubgraph(): Subgraph {
  return createSubgraph({
    name: 'inventory',
    typeDefs: loadSubgraphTypeDefs('inventory'),
    resolvers: {
      Product: {
        __resolveReference: (reference: ProductReference) => reference,
        inStock: (product: ProductReference) => !OUT_OF_STOCK.has(product.upc),
        shippingEstimate: (product: ProductReference) => {
          if (product.price == null || product.weight == null) return null;
          return product.price > FREE_SHIPPING_ABOVE ? 0 : Math.round(product.weight / 2);
        },
      },
    },
  });
}
