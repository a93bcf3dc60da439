import { getNamedType, isObjectType, parse, validate, type GraphQLField, type GraphQLObjectType, type GraphQLSchema } from 'graphql';

/** One operation of the corpus, with its variables. */
export interface Operation {
  /** Unique within the corpus: `<section><number>` and what it touches. */
  name: string;
  kind: 'query' | 'mutation';
  text: string;
  variables: Record<string, unknown>;
}

export interface Corpus {
  queries: Operation[];
  mutations: Operation[];
}

// The corpus is generated from the API schema with a seeded generator, so every run checks the same operations,
// and stays within the gateway's document limits (depth 10, 15 aliases, 10 root fields, 20 directives): a refusal
// by a limit would be a difference that says nothing about authorization.

/** Deepest field level of a generated selection (the root fields are level 1). */
const MAX_LEVEL = 5;
const MAX_ALIASES = 8;
const MAX_DIRECTIVES = 8;

/** Values the generated arguments take: mostly objects that exist and whose owners are among the callers. */
const USER_IDS = ['1', '1', '2', '5', '6', '42'];
const UPCS = ['1', '2', '3', '7', '9', '404', 'x9'];
const FIRSTS = [1, 2, 3, 100];
const TOP_FIRSTS = [1, 3, 9, 100];

/** The field each entity is identified by: what an object field selects at the deepest level. */
const KEY_FIELD: Readonly<Record<string, string>> = { User: 'id', Product: 'upc', Review: 'id' };

/** mulberry32: small, fast, and the same sequence for the same seed on every platform. */
class Random {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(below: number): number {
    return Math.floor(this.next() * below);
  }
  chance(probability: number): boolean {
    return this.next() < probability;
  }
  pick<T>(items: readonly T[]): T {
    const item = items[this.int(items.length)];
    if (item === undefined) throw new Error('pick from an empty list');
    return item;
  }
  sample<T>(items: readonly T[], count: number): T[] {
    const pool = [...items];
    const chosen: T[] = [];
    while (chosen.length < count && pool.length > 0) chosen.push(...pool.splice(this.int(pool.length), 1));
    return chosen;
  }
}

/** The state of one operation being written: its variables, fragments and counters. */
class OperationWriter {
  readonly variables = new Map<string, { type: string; value: unknown }>();
  readonly fragments: string[] = [];
  aliases = 0;
  directives = 0;
  private counter = 0;

  constructor(readonly random: Random) {}

  unique(prefix: string): string {
    this.counter += 1;
    return `${prefix}${this.counter}`;
  }

  /** An argument value, as a literal or (half the time) a variable of `type`. */
  value(type: string, value: unknown): string {
    if (this.random.chance(0.5)) return JSON.stringify(value);
    const name = this.unique('v');
    this.variables.set(name, { type, value });
    return `$${name}`;
  }

  /** `@include`/`@skip`, now and then, on a literal or a Boolean variable. */
  directive(): string {
    if (this.directives >= MAX_DIRECTIVES || !this.random.chance(0.12)) return '';
    this.directives += 1;
    const name = this.random.pick(['include', 'skip']);
    const condition = this.random.chance(0.7);
    return ` @${name}(if: ${this.value('Boolean!', condition)})`;
  }

  argumentsOf(type: GraphQLObjectType, field: GraphQLField<unknown, unknown>): string {
    const coordinate = `${type.name}.${field.name}`;
    switch (coordinate) {
      case 'Query.user':
        return `(id: ${this.value('ID!', this.random.pick(USER_IDS))})`;
      case 'Query.product':
        return `(upc: ${this.value('String!', this.random.pick(UPCS))})`;
      case 'Query.topProducts':
        return this.random.chance(0.4) ? '' : `(first: ${this.value('Int', this.random.pick(TOP_FIRSTS))})`;
      case 'User.reviews':
      case 'Product.reviews':
        return this.random.chance(0.5) ? '' : `(first: ${this.value('Int', this.random.pick(FIRSTS))})`;
      default:
        if (field.args.length > 0) throw new Error(`no argument values for ${coordinate}`);
        return '';
    }
  }

  /** One field: maybe aliased, with arguments and a directive, and a selection of its own for an object. */
  field(type: GraphQLObjectType, field: GraphQLField<unknown, unknown>, level: number, mustAlias = false): string {
    const alias = mustAlias || (this.aliases < MAX_ALIASES && this.random.chance(0.2)) ? `${this.unique(`${field.name}_`)}: ` : '';
    if (alias !== '') this.aliases += 1;
    const named = getNamedType(field.type);
    const selection = isObjectType(named) ? ` { ${level >= MAX_LEVEL ? keyField(named) : this.selection(named, level + 1)} }` : '';
    return `${alias}${field.name}${this.argumentsOf(type, field)}${this.directive()}${selection}`;
  }

  /**
   * Some fields of `type`, each at most once per selection set (so that no two selections of one response key
   * conflict), some of them moved into an inline fragment or a named fragment spread there (once or twice).
   */
  selection(type: GraphQLObjectType, level: number): string {
    const fields = Object.values(type.getFields());
    const wanted = 1 + this.random.int(Math.min(level >= MAX_LEVEL - 1 ? 2 : 4, fields.length));
    const pieces = this.random.sample(fields, wanted).map((field) => this.field(type, field, level));
    if (this.random.chance(0.1)) pieces.push('__typename');
    const direct: string[] = [];
    const inline: string[] = [];
    const named: string[] = [];
    for (const piece of pieces) {
      const bucket = this.random.next();
      (bucket < 0.7 ? direct : bucket < 0.85 ? inline : named).push(piece);
    }
    if (inline.length > 0) {
      const condition = this.random.chance(0.7) ? ` on ${type.name}` : '';
      direct.push(`...${condition}${this.directive()} { ${inline.join(' ')} }`);
    }
    if (named.length > 0) {
      const name = this.unique(`${type.name}Fields`);
      this.fragments.push(`fragment ${name} on ${type.name} { ${named.join(' ')} }`);
      direct.push(`...${name}${this.directive()}`);
      if (this.random.chance(0.2)) direct.push(`...${name}`);
    }
    return direct.join(' ');
  }

  /** The whole document: the operation, with the variables it uses, then its fragments. */
  document(kind: 'query' | 'mutation', name: string, body: string): { text: string; variables: Record<string, unknown> } {
    const declared = [...this.variables].map(([variable, { type }]) => `$${variable}: ${type}`);
    const header = `${kind} ${name}${declared.length > 0 ? `(${declared.join(', ')})` : ''}`;
    const variables = Object.fromEntries([...this.variables].map(([variable, { value }]) => [variable, value]));
    return { text: [`${header} { ${body} }`, ...this.fragments].join('\n'), variables };
  }
}

function keyField(type: GraphQLObjectType): string {
  const key = KEY_FIELD[type.name];
  if (key === undefined) throw new Error(`no key field for ${type.name}`);
  return key;
}

/**
 * Where each entity type is reached from the root, `#` standing for the selection on it: every field is covered
 * from each of these, so a rule is checked on objects reached directly, through lists and across subgraphs.
 */
const ENTRY_POINTS: Readonly<Record<string, readonly string[]>> = {
  User: ['user(id: "1") { # }', 'me { # }', 'users { # }', 'topProducts(first: 2) { reviews { author { # } } }'],
  Product: ['product(upc: "1") { # }', 'topProducts { # }', 'user(id: "1") { reviews { product { # } } }'],
  Review: ['product(upc: "2") { reviews { # } }', 'me { reviews(first: 2) { # } }', 'topProducts(first: 3) { reviews(first: 1) { # } }'],
};

/** Operations written by hand: the README's, and long joins across all four subgraphs. */
const FIXED: readonly Omit<Operation, 'kind'>[] = [
  { name: 'readme', text: '{ topProducts { name price inStock shippingEstimate reviews { body author { username } } } }', variables: {} },
  {
    name: 'joinReviewAuthorReviewsProduct',
    text: '{ topProducts(first: 3) { upc reviews { body rating author { id username email reviews { id body product { upc name price weight inStock shippingEstimate costPrice } } } } } }',
    variables: {},
  },
  {
    name: 'joinMeEverything',
    text: 'query Me($first: Int) { me { id name username birthday email reviews(first: $first) { id body rating product { upc name reviews { id author { id name email birthday } } } } } }',
    variables: { first: 3 },
  },
  {
    name: 'ownerFragments',
    text: 'query Owner($mine: ID!, $other: ID!, $private: Boolean!) { mine: user(id: $mine) { ...Private @include(if: $private) } other: user(id: $other) { ...Private username } } fragment Private on User { id email birthday reviews { rating body } }',
    variables: { mine: '1', other: '2', private: true },
  },
  {
    name: 'parentWithoutFragment',
    text: '{ product(upc: "1") { reviews { body } } top: topProducts(first: 2) { reviews { body rating } } again: topProducts(first: 2) { reviews { body stars: rating } } }',
    variables: {},
  },
  {
    name: 'parentWithoutFragmentSkippedOrSpread',
    text: 'query Skipped($no: Boolean!) { product(upc: "2") { reviews { body rating @skip(if: $no) } } spread: product(upc: "1") { reviews { body ...Rating } } } fragment Rating on Review { rating }',
    variables: { no: true },
  },
];

/** Mutations written by hand, run before the generated ones: an author's delete, a review with its author's private fields, the catalog, bad input. */
const FIXED_MUTATIONS: readonly Omit<Operation, 'kind'>[] = [
  { name: 'deleteAdasReview', text: 'mutation DeleteAdas { deleteReview(id: "4") }', variables: {} },
  {
    name: 'reviewWithAuthor',
    text: 'mutation Review { createReview(upc: "1", body: "Solid.", rating: 4) { id body rating author { id username email birthday } product { upc name reviews(first: 100) { id } } } }',
    variables: {},
  },
  {
    name: 'catalog',
    text: 'mutation Catalog { createProduct(upc: "fixed-1", name: "Stool", price: 450, weight: 30) { upc name price weight costPrice inStock shippingEstimate reviews { id } } updatePrice(upc: "2", price: 999) { upc price shippingEstimate } }',
    variables: {},
  },
  { name: 'badInput', text: 'mutation BadInput($price: Int!) { updatePrice(upc: "1", price: $price) { price } }', variables: { price: -1 } },
];

/** A deterministic corpus over `schema`: operations written by hand, one per field and entry point, then random ones. */
export function generateCorpus(schema: GraphQLSchema, options: { seed: number; randomQueries: number; mutations: number }): Corpus {
  const random = new Random(options.seed);
  const queries: Operation[] = FIXED.map((operation) => ({ ...operation, kind: 'query' }));

  // Coverage: every field of every entity type from every entry point, aliased every other time.
  let covered = 0;
  for (const [typeName, entries] of Object.entries(ENTRY_POINTS)) {
    const type = schema.getType(typeName) as GraphQLObjectType;
    for (const [entryIndex, entry] of entries.entries()) {
      for (const field of Object.values(type.getFields())) {
        covered += 1;
        const named = getNamedType(field.type);
        const alias = covered % 2 === 0 ? `${field.name}_alias: ` : '';
        const selection = `${alias}${field.name}${isObjectType(named) ? ` { ${keyField(named)} }` : ''}`;
        queries.push({ name: `cover_${typeName}_${field.name}_${entryIndex}`, kind: 'query', text: `{ ${entry.replace('#', selection)} }`, variables: {} });
      }
    }
  }

  const queryType = schema.getQueryType() as GraphQLObjectType;
  for (let index = 0; index < options.randomQueries; index += 1) {
    const writer = new OperationWriter(random);
    const roots = Array.from({ length: 1 + random.int(3) }, () => random.pick(Object.values(queryType.getFields())));
    // The same root field twice must differ by alias.
    const body = roots.map((field, position) => writer.field(queryType, field, 1, roots.indexOf(field) < position)).join(' ');
    const name = `random${index}`;
    queries.push({ name, kind: 'query', ...writer.document('query', name, body) });
  }

  const mutations: Operation[] = [...FIXED_MUTATIONS.map((operation) => ({ ...operation, kind: 'mutation' as const })), ...Array.from({ length: options.mutations }, (_, index) => mutation(schema, random, index))];
  for (const operation of [...queries, ...mutations]) assertValid(schema, operation);
  return { queries, mutations };
}

/**
 * A mutation of one or two root fields (at most one createReview: the demo's field cap), with arguments drawn mostly
 * from valid values, and a selection on what it returns.
 */
function mutation(schema: GraphQLSchema, random: Random, index: number): Operation {
  const writer = new OperationWriter(random);
  const mutationType = schema.getMutationType() as GraphQLObjectType;
  const fields = mutationType.getFields();
  const names = ['createReview', 'deleteReview', 'createProduct', 'updatePrice'];
  const chosen = [random.pick(names)];
  if (random.chance(0.3)) chosen.push(random.pick(names.filter((name) => name !== 'createReview')));

  const roots = chosen.map((fieldName, position) => {
    const field = fields[fieldName];
    if (field === undefined) throw new Error(`no Mutation.${fieldName}`);
    const alias = position > 0 || random.chance(0.2) ? `m${position}: ` : '';
    const args = mutationArguments(writer, fieldName, index);
    const named = getNamedType(field.type);
    const selection = isObjectType(named) ? ` { ${writer.selection(named, MAX_LEVEL - 2)} }` : '';
    return `${alias}${fieldName}(${args})${selection}`;
  });
  const name = `mutation${index}_${chosen.join('_')}`;
  return { name, kind: 'mutation', ...writer.document('mutation', name, roots.join(' ')) };
}

function mutationArguments(writer: OperationWriter, fieldName: string, index: number): string {
  const { random } = writer;
  switch (fieldName) {
    case 'createReview':
      return [
        `upc: ${writer.value('String!', random.pick(['1', '4', '6', '6', '99']))}`,
        `body: ${writer.value('String!', random.pick(['Sturdy, and the colour is as shown.', 'Wobbles a little.', 'Fine.', '   ']))}`,
        `rating: ${writer.value('Int!', random.pick([5, 4, 2, 1, 0]))}`,
      ].join(', ');
    case 'deleteReview':
      return `id: ${writer.value('ID!', random.pick(['4', '7', '12', '13', '14', '999']))}`;
    case 'createProduct': {
      const weight = random.pick(['none', 30, 30, -1] as const);
      return [
        `upc: ${writer.value('String!', random.pick([`new-${index}`, `new-${index}`, `new-${index}`, '1', '  ']))}`,
        `name: ${writer.value('String!', random.pick(['Stool', 'Shelf', ' ']))}`,
        `price: ${writer.value('Int!', random.pick([450, 1200, -5]))}`,
        ...(weight === 'none' ? [] : [`weight: ${writer.value('Int', weight)}`]),
      ].join(', ');
    }
    case 'updatePrice':
      return [`upc: ${writer.value('String!', random.pick(['1', '3', '8', 'missing']))}`, `price: ${writer.value('Int!', random.pick([950, 1500, 60, -1]))}`].join(', ');
    default:
      throw new Error(`no argument values for Mutation.${fieldName}`);
  }
}

function assertValid(schema: GraphQLSchema, operation: Operation): void {
  const errors = validate(schema, parse(operation.text));
  if (errors.length > 0) throw new Error(`the corpus generated an invalid operation ${operation.name}: ${errors.map((error) => error.message).join('; ')}\n${operation.text}`);
}
