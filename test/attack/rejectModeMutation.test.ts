import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../harness.js';

// AUTHZ_DENIED_QUERY_FIELDS=reject: "the operation gets 403". For a mutation whose answer holds a field decided on
// the returned objects (ownership), authorizedGateway.ts answers 403 FORBIDDEN after the plan ran ("the plan ran (a
// query, so nothing changed)") - but for a mutation something did change: the caller is told it was refused, loses
// the answer (the new review's id), and a retry writes the review again.

describe('reject mode and a mutation decided on its answer', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { AUTHZ_DENIED_QUERY_FIELDS: 'reject' } });
  });
  afterAll(() => stack.stop());

  it('never answers 403 for a mutation that ran', async () => {
    const alan = await stack.as({ subject: '2' });
    const body = `written once ${Date.now()}`;
    // Alan (user 2) may create a review; the product's other reviews include Ada's, whose email he may not see.
    const response = await stack.query(`mutation { createReview(upc: "1", body: "${body}", rating: 3) { id product { reviews { author { email } } } } }`, { headers: alan });
    const reviews = await stack.query('{ product(upc: "1") { reviews(first: 100) { body } } }');
    const written = ((reviews.body.data?.['product'] as { reviews: { body: string }[] }).reviews ?? []).filter((review) => review.body === body).length;
    // Either nothing ran (a 403 is then true), or it ran and the caller must learn so.
    expect({ status: response.status, written }).not.toEqual({ status: 403, written: 1 });
  });
});
