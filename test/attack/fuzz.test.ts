import { readFileSync } from 'node:fs';
import { getNamedType, getOperationAST, isCompositeType, isObjectType, parse, validate, type GraphQLObjectType } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { costModel } from '../../src/analysis/costModel.js';
import { coercedVariables, fragmentsOf } from '../../src/analysis/graphqlSelections.js';
import { analyzeOperation, type ObjectSelection } from '../../src/analysis/operationAnalysis.js';
import { apiSchemaOf } from '../../src/authz/accessMatrix.js';
import { COMMITTED_SUPERGRAPH, startStack, type Stack } from '../harness.js';
import { compareAnswers } from './compareAnswers.js';
import { seededRandom } from './seededRandom.js';

// Random documents over the demo graph (fragments, inline fragments, aliases, @skip/@include with variables), run as
// non-admin callers and as an admin; a non-admin answer must be the admin's with some values nulled, and must never
// hold another user's email or birthday, a cost price, or anything the rewrite added.

const supergraph = readFileSync(COMMITTED_SUPERGRAPH, 'utf8');
const schema = apiSchemaOf(supergraph);
const model = costModel(parse(supergraph));

const { rand, pick } = seededRandom(12345);

const EMAILS = ['ada@example.com', 'alan@example.com', 'grace@example.com', 'edsger@example.com', 'barbara@example.com', 'margaret@example.com'];
const BIRTHDAYS = [18151210, 19120623, 19061209, 19300511, 19391107, 19360817];

function generate(): { query: string; variables: Record<string, boolean> } {
  const fragments: { name: string; type: string; text: string }[] = [];
  const variables: Record<string, boolean> = {};
  const cond = (): string => {
    if (rand() > 0.2) return '';
    const name = `v${Object.keys(variables).length}`;
    variables[name] = rand() < 0.5;
    return ` @${pick(['skip', 'include'])}(if: $${name})`;
  };
  const selection = (type: GraphQLObjectType, depth: number): string => {
    // `me` differs by caller: left out, so that every answer compares with the admin's.
    const fields = Object.values(type.getFields()).filter((field) => !(type.name === 'Query' && field.name === 'me'));
    const parts: string[] = [];
    const count = 1 + Math.floor(rand() * 4);
    for (let i = 0; i < count; i += 1) {
      const field = pick(fields);
      const named = getNamedType(field.type);
      if (isCompositeType(named) && depth >= 4) continue;
      const alias = rand() < 0.25 ? `${pick(['a', 'b', 'id', 'email', 'name', 'x', 'birthday'])}: ` : '';
      let args = '';
      if (field.name === 'user') args = `(id: "${pick(['1', '2', '3'])}")`;
      else if (field.name === 'product') args = `(upc: "${pick(['1', '2'])}")`;
      else if (field.name === 'reviews' && rand() < 0.3) args = `(first: ${pick([1, 2])})`;
      else if (field.name === 'topProducts') args = `(first: ${pick([1, 2, 3])})`;
      const sub = isObjectType(named) ? ` ${selection(named, depth + 1)}` : '';
      let text = `${alias}${field.name}${args}${cond()}${sub}`;
      const wrap = rand();
      if (wrap < 0.15) text = `... on ${type.name}${cond()} { ${text} }`;
      else if (wrap < 0.25) text = `... ${cond()} { ${text} }`.replace('...  {', '... {');
      else if (wrap < 0.4) {
        const reuse = fragments.filter((fragment) => fragment.type === type.name);
        if (reuse.length > 0 && rand() < 0.4) text = `...${pick(reuse).name}${cond()} ${text}`;
        else {
          const name = `F${fragments.length}`;
          fragments.push({ name, type: type.name, text: `fragment ${name} on ${type.name} { ${text} }` });
          text = `...${name}${cond()}`;
        }
      }
      if (rand() < 0.1) text += ' __typename';
      parts.push(text);
    }
    if (parts.length === 0) parts.push('__typename');
    return `{ ${parts.join(' ')} }`;
  };
  const root = selection(schema.getQueryType() as GraphQLObjectType, 0);
  const names = Object.keys(variables);
  const header = names.length > 0 ? `query Q(${names.map((name) => `$${name}: Boolean!`).join(', ')}) ` : 'query Q ';
  return { query: [header + root, ...fragments.map((fragment) => fragment.text)].join(' '), variables };
}

/** Every Product.costPrice value in the data, walked along the request's analysis. */
function costPrices(selection: ObjectSelection, value: unknown, found: unknown[]): void {
  if (value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) return value.forEach((item) => costPrices(selection, item, found));
  const object = value as Record<string, unknown>;
  for (const field of selection.fields) {
    if (field.parentType.name === 'Product' && field.fieldName === 'costPrice' && object[field.responseKey] != null) found.push(object[field.responseKey]);
    for (const child of field.children) costPrices(child, object[field.responseKey], found);
  }
}


describe('random documents: what a non-admin gets is what an admin gets, less what the policy denies', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(() => stack.stop());

  it('holds for a few hundred documents', async () => {
    const admin = await stack.as({ subject: '6', roles: ['admin'] });
    const callers = { u1: await stack.as({ subject: '1' }), u2: await stack.as({ subject: '2' }), anon: {} as Record<string, string> };
    const problems: string[] = [];
    let ran = 0;
    for (let attempt = 0; attempt < 20_000 && ran < Number(process.env['FUZZ_N'] ?? 25) && problems.length < 10; attempt += 1) {
      const { query, variables } = generate();
      const document = parse(query);
      if (validate(schema, document).length > 0) continue;
      const reference = await stack.query(query, { variables, headers: admin });
      if (reference.status !== 200) continue; // over a limit
      ran += 1;
      const operation = getOperationAST(document) as NonNullable<ReturnType<typeof getOperationAST>>;
      const analysis = analyzeOperation({ schema, operation, fragments: fragmentsOf(document), variables: coercedVariables(schema, operation, variables) ?? {}, model, defaults: { listSize: 10 } });
      for (const [name, headers] of Object.entries(callers)) {
        const response = await stack.query(query, { variables, headers });
        const text = JSON.stringify(response.body);
        const tag = `[${name}] ${query} ${JSON.stringify(variables)}`;
        if (response.status !== 200) {
          problems.push(`${tag}: status ${response.status} ${text.slice(0, 300)}`);
          continue;
        }
        if (/__authz|authz__/.test(text)) problems.push(`${tag}: internal names in ${text.slice(0, 300)}`);
        const self = name === 'u1' ? 0 : name === 'u2' ? 1 : -1;
        EMAILS.forEach((email, index) => index !== self && text.includes(`"${email}"`) && problems.push(`${tag}: leaks ${email}`));
        BIRTHDAYS.forEach((birthday, index) => index !== self && text.includes(`:${birthday}`) && problems.push(`${tag}: leaks birthday ${birthday}`));
        const prices: unknown[] = [];
        if (analysis.root) costPrices(analysis.root, response.body.data, prices);
        if (prices.length > 0) problems.push(`${tag}: leaks cost prices ${JSON.stringify(prices)}`);
        // Past MAX_ERRORS the answer is cut: a null then need not have its error.
        const cut = (response.body.errors ?? []).some((error) => error.extensions?.['code'] === 'TOO_MANY_ERRORS');
        const errorPaths = cut ? null : (response.body.errors ?? []).map((error) => JSON.stringify(error.path ?? []));
        const before = problems.length;
        compareAnswers(response.body.data ?? null, reference.body.data ?? null, [], errorPaths, problems);
        for (let index = before; index < problems.length; index += 1) problems[index] = `${tag}: ${problems[index]}`;
      }
    }
    console.log(`ran ${ran} documents`);
    expect(problems).toEqual([]);
  }, 500_000);
});
