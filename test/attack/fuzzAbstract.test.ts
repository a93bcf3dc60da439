import { allow, deny, rule } from 'graphql-shield';
import {
  getNamedType,
  isCompositeType,
  isObjectType,
  isUnionType,
  parse,
  validate,
  type GraphQLCompositeType,
  type GraphQLSchema,
} from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PolicyInput } from '../../src/config/index.js';
import { apiSchemaOf } from '../../src/authz/accessMatrix.js';
import { startFederationStack, type FederationStack, type FixtureSubgraph } from '../federation/federationStack.js';
import { interfaceObjectGraph } from '../federation/fixtures/interfaceObject/index.js';
import { interfacesGraph } from '../federation/fixtures/interfaces/index.js';
import { unionsGraph } from '../federation/fixtures/unions/index.js';
import { compareAnswers } from './compareAnswers.js';
import { seededRandom } from './seededRandom.js';

// Random documents over graphs with interfaces, unions and @interfaceObject (inline fragments on possible types and
// interfaces, named fragments, aliases, @skip/@include with variables, __typename aliased or not), answered by a
// gateway that allows everything (the client's document untouched) and by one whose policy denies some fields before
// execution and some on the object: the second's answer must be the first's with some values nulled (each null with
// an error at or below it), and must never hold a denied value.

const strict = (name: string, fragment: string | undefined, allowIf: (parent: Record<string, unknown>) => boolean) =>
  rule(name, { cache: 'strict', ...(fragment ? { fragment } : {}) })((parent: Record<string, unknown>) => allowIf(parent));

interface Graph {
  name: string;
  subgraphs: readonly FixtureSubgraph[];
  types: string[];
  policy: PolicyInput;
  /** Values only a denied field holds: none may ever reach the client. */
  secrets: string[];
}

const GRAPHS: Graph[] = [
  {
    name: 'interfaces',
    subgraphs: interfacesGraph,
    types: ['Car', 'Toaster', 'Kettle', 'Manual'],
    policy: {
      ruleTree: {
        Query: allow,
        Car: { '*': allow, model: strict('onlyCar1', 'fragment A on Car { id }', (parent) => parent['id'] === 'car-1'), warranty: deny },
        Toaster: { '*': allow, brand: strict('noBrand', 'fragment B on Toaster { upc }', () => false) },
        Kettle: { '*': allow, name: deny },
        Manual: { '*': allow, title: strict('noTitle', 'fragment C on Manual { id }', () => false) },
      },
    },
    secrets: ['"Coupe"', '"Breville"', '"Boiler"', ':36,', ':36}', '"Owner\'s manual"'],
  },
  {
    name: 'unions',
    subgraphs: unionsGraph,
    types: ['Book', 'Film', 'Notice'],
    policy: {
      ruleTree: {
        Query: allow,
        Book: { '*': allow, pages: deny },
        Film: { '*': allow, minutes: strict('onlyDune', 'fragment D on Film { title }', (parent) => parent['title'] === 'Dune') },
        Notice: { '*': allow, text: strict('noText', undefined, () => false) },
      },
    },
    secrets: [':412', ':474', ':117', '"Results for members only are hidden"'],
  },
  {
    name: 'interfaceObject',
    subgraphs: interfaceObjectGraph,
    types: ['Book', 'Movie'],
    policy: {
      ruleTree: {
        Query: allow,
        Book: { '*': allow, rating: strict('notBook1', 'fragment E on Book { id }', (parent) => parent['id'] !== '1'), author: strict('notDune', 'fragment F on Book { title }', (parent) => parent['title'] !== 'Dune') },
        Movie: { '*': allow, director: deny },
      },
    },
    secrets: ['"rating":5', '"Frank Herbert"', '"Ridley Scott"'],
  },
];

const { rand, pick } = seededRandom(4242);

function generate(schema: GraphQLSchema): { query: string; variables: Record<string, boolean> } {
  const fragments: { name: string; type: string; text: string }[] = [];
  const variables: Record<string, boolean> = {};
  const cond = (): string => {
    if (rand() > 0.2) return '';
    const name = `v${Object.keys(variables).length}`;
    variables[name] = rand() < 0.5;
    return ` @${pick(['skip', 'include'])}(if: $${name})`;
  };
  // Types a fragment inside a selection of `type` may be on: its possible types and their interfaces.
  const overlapping = (type: GraphQLCompositeType): GraphQLCompositeType[] => {
    const possible = isObjectType(type) ? [type] : schema.getPossibleTypes(type);
    const interfaces = possible.flatMap((object) => object.getInterfaces());
    return [...new Set<GraphQLCompositeType>([type, ...possible, ...interfaces])];
  };
  const selection = (type: GraphQLCompositeType, depth: number): string => {
    const parts: string[] = [];
    const count = 1 + Math.floor(rand() * 4);
    for (let i = 0; i < count; i += 1) {
      let choice = rand();
      if (isUnionType(type) && choice >= 0.4) choice = rand() < 0.7 ? 0 : 0.45;
      if (choice < 0.3 && !isObjectType(type)) {
        parts.push(`... on ${pick(overlapping(type)).name}${cond()} ${selection(pick(overlapping(type).filter((candidate) => candidate !== type).concat([type])), depth)}`);
        continue;
      }
      if (choice >= 0.3 && choice < 0.4) {
        const on = pick(overlapping(type));
        const reuse = fragments.filter((fragment) => fragment.type === on.name);
        if (reuse.length > 0 && rand() < 0.5) parts.push(`...${pick(reuse).name}${cond()}`);
        else if (depth < 3) {
          const name = `F${fragments.length}`;
          fragments.push({ name, type: on.name, text: '' });
          const index = fragments.length - 1;
          (fragments[index] as { text: string }).text = `fragment ${name} on ${on.name} ${selection(on, depth + 1)}`;
          parts.push(`...${name}${cond()}`);
        }
        continue;
      }
      if ((choice >= 0.4 && choice < 0.5) || isUnionType(type)) {
        parts.push(`${rand() < 0.3 ? `${pick(['t', 'id', 'x'])}: ` : ''}__typename${cond()}`);
        continue;
      }
      const field = pick(Object.values(type.getFields()));
      const named = getNamedType(field.type);
      if (isCompositeType(named) && depth >= 3) continue;
      const alias = rand() < 0.25 ? `${pick(['a', 'b', 'id', 'title', 'name', 'x'])}: ` : '';
      const sub = isCompositeType(named) ? ` ${selection(named, depth + 1)}` : '';
      parts.push(`${alias}${field.name}${cond()}${sub}`);
    }
    if (parts.length === 0) parts.push('__typename');
    return `{ ${parts.join(' ')} }`;
  };
  const root = selection(schema.getQueryType() as GraphQLCompositeType, 0);
  const names = Object.keys(variables);
  const header = names.length > 0 ? `query Q(${names.map((name) => `$${name}: Boolean!`).join(', ')}) ` : 'query Q ';
  return { query: [header + root, ...fragments.map((fragment) => fragment.text)].join(' '), variables };
}


describe.each(GRAPHS)('random documents over $name', (graph) => {
  let reference: FederationStack;
  let guarded: FederationStack;
  let schema: GraphQLSchema;
  beforeAll(async () => {
    reference = await startFederationStack({ subgraphs: graph.subgraphs, policy: { ruleTree: { Query: allow, ...Object.fromEntries(graph.types.map((type) => [type, allow])) } } });
    guarded = await startFederationStack({ subgraphs: graph.subgraphs, policy: graph.policy });
    schema = apiSchemaOf(reference.supergraphSdl);
  });
  afterAll(async () => {
    await reference?.stop();
    await guarded?.stop();
  });

  it('answer as an allow-all gateway does, less what the policy denies', async () => {
    const problems: string[] = [];
    let ran = 0;
    for (let attempt = 0; attempt < 20_000 && ran < Number(process.env['FUZZ_N'] ?? 25) && problems.length < 10; attempt += 1) {
      const { query, variables } = generate(schema);
      if (validate(schema, parse(query)).length > 0) continue;
      const expected = await reference.query(query, { variables });
      if (expected.status !== 200) continue;
      ran += 1;
      const response = await guarded.query(query, { variables });
      const text = JSON.stringify(response.body);
      const tag = `${query} ${JSON.stringify(variables)}`;
      if (response.status !== 200) {
        problems.push(`${tag}: status ${response.status} ${text.slice(0, 300)}`);
        continue;
      }
      if (/__authz|authz__/.test(text)) problems.push(`${tag}: internal names in ${text.slice(0, 300)}`);
      const data = JSON.stringify(response.body.data ?? null);
      for (const secret of graph.secrets) if (data.includes(secret)) problems.push(`${tag}: leaks ${secret}`);
      const cut = (response.body.errors ?? []).some((error) => error.extensions?.['code'] === 'TOO_MANY_ERRORS');
      const errorPaths = cut ? null : (response.body.errors ?? []).map((error) => JSON.stringify(error.path ?? []));
      const before = problems.length;
      compareAnswers(response.body.data ?? null, expected.body.data ?? null, [], errorPaths, problems);
      // One problem per document is enough to tell it.
      if (problems.length > before) problems.splice(before, problems.length - before, `${tag}: ${problems.slice(before).join('; ')}`.slice(0, 2000));
    }
    console.log(`${graph.name}: ran ${ran} documents`);
    expect(problems).toEqual([]);
  }, 500_000);
});
