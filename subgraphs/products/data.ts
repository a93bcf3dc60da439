export interface ProductRecord {
  upc: string;
  name: string;
  /** In cents. */
  price: number;
  /** In grams. */
  weight: number | null;
  /** What the product costs us, in cents. */
  costPrice: number;
}

/** The demo's nine products, in the order `topProducts` lists them. */
export const PRODUCTS: readonly ProductRecord[] = [
  { upc: '1', name: 'Table', price: 899, weight: 100, costPrice: 540 },
  { upc: '2', name: 'Couch', price: 1299, weight: 1000, costPrice: 700 },
  { upc: '3', name: 'Chair', price: 54, weight: 50, costPrice: 30 },
  { upc: '4', name: 'Lamp', price: 129, weight: 20, costPrice: 60 },
  { upc: '5', name: 'Bookshelf', price: 549, weight: 400, costPrice: 310 },
  { upc: '6', name: 'Rug', price: 299, weight: 120, costPrice: 150 },
  { upc: '7', name: 'Desk', price: 1099, weight: 800, costPrice: 640 },
  { upc: '8', name: 'Mirror', price: 199, weight: 60, costPrice: 90 },
  { upc: '9', name: 'Wardrobe', price: 1899, weight: 2000, costPrice: 1100 },
];
