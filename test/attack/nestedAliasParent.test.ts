import { rule } from 'graphql-shield';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { policies, ruleTree } from '../../gateway.config.js';
import { startStack, type Stack } from '../harness.js';

// A rule that reads a nested field of its parent without declaring it in a fragment: the gateway passes a rule only the
// client's leaf fields (and the object's key), never an object field whose selections are the client's, so that
// `author { id: name }` cannot show the rule an `author.id` that is the author's name. (Such an alias, naming another
// field of the type, is refused anyway: ALIAS_SHADOWS_FIELD.)

const USER_WHO_HID_THEIR_REVIEWS = '1';
const notByHidingUser = rule('notByHidingUser', { cache: 'strict' })(
  (parent: { author?: { id?: unknown } | null }) => parent.author != null && parent.author.id !== USER_WHO_HID_THEIR_REVIEWS,
);

describe('a rule reading a nested field of its parent', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ policy: { ruleTree: { ...ruleTree, Review: { ...(ruleTree['Review' as keyof typeof ruleTree] as object), body: notByHidingUser } }, policies } });
  });
  afterAll(() => stack.stop());

  it('denies as written: the bodies of user 1\'s reviews are hidden', async () => {
    const response = await stack.query('{ user(id: "1") { reviews { body author { id } } } }');
    expect(response.body.data).toEqual({ user: { reviews: [{ body: null, author: { id: '1' } }, { body: null, author: { id: '1' } }] } });
  });

  it('is not fooled by an alias inside the client\'s own selection of the field it reads', async () => {
    const shadowing = await stack.query('{ user(id: "1") { reviews { body author { id: name } } } }');
    expect(shadowing.status).toBe(400);
    expect(shadowing.body.errors?.map((error) => error.extensions?.['validationErrorCode'])).toEqual(['ALIAS_SHADOWS_FIELD']);
    // An alias that names no field: the rule never sees the client's `author`, and denies (it needs a fragment).
    const other = await stack.query('{ user(id: "2") { reviews { body author { who: name } } } }');
    const reviews = (other.body.data?.['user'] as { reviews: { body: string | null }[] }).reviews;
    expect(reviews.map((review) => review.body)).toEqual(reviews.map(() => null));
    expect(reviews.length).toBeGreaterThan(0);
  });
});
