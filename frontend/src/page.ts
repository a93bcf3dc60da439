import type { ApolloCache, ApolloClient, Reference } from '@apollo/client/core';
import { shownErrors, type ShownError } from './errors.js';
import { CreateReviewDocument, MeDocument, TopProductsDocument, type ProductReview, type TopProduct } from './operations/index.js';
import type { DevSignInResponse, StorefrontRuntimeConfig } from './runtimeConfig.js';

/** Where the page keeps the caller's token: in memory only, so that no script can find it in storage after a reload. */
export interface TokenHolder {
  token: string | undefined;
}

export interface StorefrontPageOptions {
  config: StorefrontRuntimeConfig;
  client: ApolloClient;
  tokens: TokenHolder;
  clientVersion: string;
}

/**
 * Which part of the page an error came from. Each part replaces its own errors when it runs again, so the error area
 * always shows what is wrong now (`data-source` on each entry says which part).
 */
type ErrorSource = 'config' | 'products' | 'sign-in' | 'profile' | 'review';

/**
 * Wires the page in `index.html`: the product list, sign-in, the caller's profile, the review form and the error area.
 * Every text from the gateway is set with `textContent`, never as HTML: review bodies are written by anyone. Every
 * operation runs with `errorPolicy: 'all'`, so partial data is shown beside its errors (a field the policy denies is
 * `null` with `FORBIDDEN`).
 */
export function mountStorefront(document: Document, options: StorefrontPageOptions): void {
  const { client, config, tokens } = options;
  const element = <T extends HTMLElement = HTMLElement>(id: string): T => {
    const found = document.getElementById(id);
    if (found === null) throw new Error(`index.html has no #${id}`);
    return found as T;
  };
  const errors = new Map<ErrorSource, ShownError[]>();
  let signOutTimer: ReturnType<typeof setTimeout> | undefined;

  function showErrors(source: ErrorSource, shown: ShownError[]): void {
    if (shown.length === 0) errors.delete(source);
    else errors.set(source, shown);
    const list = element<HTMLUListElement>('error-list');
    list.replaceChildren(
      ...[...errors].flatMap(([from, entries]) =>
        entries.map((error) => {
          const item = document.createElement('li');
          item.dataset['testid'] = 'error';
          item.dataset['source'] = from;
          if (error.code !== undefined) item.dataset['code'] = error.code;
          const code = document.createElement('code');
          code.className = 'error-code';
          code.dataset['testid'] = 'error-code';
          code.textContent = error.code ?? 'ERROR';
          const message = document.createElement('span');
          message.dataset['testid'] = 'error-message';
          message.textContent = error.path === undefined ? error.message : `${error.message} (at ${error.path})`;
          item.append(code, message);
          return item;
        }),
      ),
    );
    element('errors').hidden = errors.size === 0;
  }

  function renderProducts(list: TopProduct[]): void {
    element<HTMLUListElement>('product-list').replaceChildren(
      ...list.map((product) => {
        const item = document.createElement('li');
        item.dataset['testid'] = 'product';
        item.dataset['upc'] = product.upc;
        const name = document.createElement('span');
        name.className = 'product-name';
        name.dataset['testid'] = 'product-name';
        name.textContent = product.name ?? product.upc;
        const price = document.createElement('span');
        price.dataset['testid'] = 'product-price';
        price.textContent = product.price === null ? '' : ` ${(product.price / 100).toFixed(2)}`;
        const reviews = document.createElement('ul');
        reviews.className = 'reviews';
        reviews.dataset['testid'] = 'reviews';
        for (const review of product.reviews ?? []) {
          if (review === null) continue;
          const entry = document.createElement('li');
          entry.dataset['testid'] = 'review';
          entry.dataset['reviewId'] = review.id;
          const rating = document.createElement('span');
          rating.className = 'review-rating';
          rating.dataset['testid'] = 'review-rating';
          rating.textContent = review.rating === null ? '' : `${review.rating}/5 `;
          const body = document.createElement('span');
          body.dataset['testid'] = 'review-body';
          body.textContent = review.body ?? '';
          const author = document.createElement('span');
          author.className = 'review-author';
          author.dataset['testid'] = 'review-author';
          author.textContent = review.author?.username ? ` by ${review.author.username}` : '';
          entry.append(rating, body, author);
          reviews.append(entry);
        }
        item.append(name, price, reviews);
        return item;
      }),
    );
    const select = element<HTMLSelectElement>('review-product');
    const chosen = select.value;
    select.replaceChildren(
      ...list.map((product) => {
        const option = document.createElement('option');
        option.value = product.upc;
        option.textContent = product.name ?? product.upc;
        return option;
      }),
    );
    if (list.some((product) => product.upc === chosen)) select.value = chosen;
  }

  function watchProducts(): void {
    const productList = element('product-list');
    client.watchQuery({ query: TopProductsDocument, errorPolicy: 'all' }).subscribe((result) => {
      if (result.loading && result.data === undefined) return;
      renderProducts((result.data?.topProducts ?? []).filter((product): product is TopProduct => product !== null && product !== undefined));
      showErrors('products', result.error === undefined ? [] : shownErrors(result.error));
      productList.dataset['state'] = result.error === undefined ? 'ready' : 'error';
      productList.setAttribute('aria-busy', 'false');
    });
  }

  function renderSession(user: { id: string; name: string } | undefined): void {
    const signedIn = user !== undefined;
    element('sign-in-form').hidden = signedIn || config.signIn.mode !== 'development';
    element('sign-in-external').hidden = config.signIn.mode !== 'identity-provider' || signedIn;
    element('sign-out-button').hidden = !signedIn;
    const signedInAs = element('signed-in-as');
    signedInAs.hidden = !signedIn;
    signedInAs.textContent = signedIn ? `Signed in as ${user.name}` : '';
    element('review-form').hidden = !signedIn;
    element('review-sign-in-hint').hidden = signedIn;
    const profile = element('profile');
    profile.hidden = !signedIn;
    if (!signedIn) {
      profile.dataset['state'] = 'signed-out';
      element('profile-name').textContent = '';
      element('profile-email').textContent = '';
      element('posted-review').hidden = true;
    }
  }

  async function loadProfile(): Promise<void> {
    const profile = element('profile');
    profile.dataset['state'] = 'loading';
    const result = await client.query({ query: MeDocument, fetchPolicy: 'network-only', errorPolicy: 'all' });
    element('profile-name').textContent = result.data?.me?.name ?? '';
    element('profile-email').textContent = result.data?.me?.email ?? '';
    showErrors('profile', result.error === undefined ? [] : shownErrors(result.error));
    profile.dataset['state'] = result.error === undefined ? 'ready' : 'error';
  }

  async function signIn(path: string, userId: string): Promise<void> {
    const response = await fetch(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ userId }),
    });
    const body = (await response.json().catch(() => ({}))) as Partial<DevSignInResponse> & { error?: string };
    if (!response.ok || typeof body.token !== 'string' || body.user === undefined || typeof body.expiresAt !== 'number') {
      showErrors('sign-in', [{ code: `HTTP_${response.status}`, message: body.error ?? 'Sign-in failed', path: undefined }]);
      return;
    }
    showErrors('sign-in', []);
    tokens.token = body.token;
    clearTimeout(signOutTimer);
    // Sign out when the token expires rather than let every request fail with UNAUTHENTICATED.
    signOutTimer = setTimeout(() => void signOut(), Math.max(0, body.expiresAt * 1000 - Date.now()));
    renderSession(body.user);
    // A new caller may see other fields: refetch what is on the page as that caller, and drop what the last one saw.
    await client.resetStore();
    await loadProfile();
  }

  async function signOut(): Promise<void> {
    clearTimeout(signOutTimer);
    tokens.token = undefined;
    renderSession(undefined);
    showErrors('profile', []);
    showErrors('review', []);
    await client.resetStore();
  }

  async function postReview(form: HTMLFormElement): Promise<void> {
    const fields = new FormData(form);
    const variables = { upc: String(fields.get('upc') ?? ''), body: String(fields.get('body') ?? '').trim(), rating: Number(fields.get('rating')) };
    form.dataset['state'] = 'submitting';
    element<HTMLButtonElement>('review-submit').disabled = true;
    try {
      const result = await client.mutate({
        mutation: CreateReviewDocument,
        variables,
        errorPolicy: 'all',
        update: (cache, { data }) => addToProductReviews(cache, data?.createReview),
      });
      const review = result.data?.createReview;
      showErrors('review', result.error === undefined ? [] : shownErrors(result.error));
      if (review === null || review === undefined) {
        form.dataset['state'] = 'error';
        return;
      }
      element('posted-review-body').textContent = review.body ?? '';
      element('posted-review-rating').textContent = review.rating === null ? '' : String(review.rating);
      element('posted-review-author').textContent = review.author?.username ?? '';
      const posted = element('posted-review');
      posted.dataset['reviewId'] = review.id;
      posted.hidden = false;
      element<HTMLTextAreaElement>('review-body').value = '';
      form.dataset['state'] = 'done';
    } catch (error) {
      showErrors('review', shownErrors(error));
      form.dataset['state'] = 'error';
    } finally {
      element<HTMLButtonElement>('review-submit').disabled = false;
    }
  }

  element('client-version').textContent = `storefront ${options.clientVersion}`;
  if (config.signIn.mode === 'development') {
    const { path, users } = config.signIn;
    element<HTMLSelectElement>('sign-in-user').replaceChildren(
      ...users.map((user) => {
        const option = document.createElement('option');
        option.value = user.id;
        option.textContent = `${user.name} (user ${user.id})`;
        return option;
      }),
    );
    element<HTMLFormElement>('sign-in-form').addEventListener('submit', (event) => {
      event.preventDefault();
      void signIn(path, element<HTMLSelectElement>('sign-in-user').value).catch((error: unknown) => showErrors('sign-in', shownErrors(error)));
    });
  }
  element('sign-out-button').addEventListener('click', () => void signOut());
  element<HTMLFormElement>('review-form').addEventListener('submit', (event) => {
    event.preventDefault();
    void postReview(event.currentTarget as HTMLFormElement);
  });
  renderSession(undefined);
  watchProducts();
}

/**
 * Puts a new review at the end of its product's reviews in the cache (the list is newest last), so the product list
 * shows it without another request.
 */
function addToProductReviews(cache: ApolloCache, review: (ProductReview & { product: { upc: string } | null }) | null | undefined): void {
  if (review === null || review === undefined || review.product === null) return;
  cache.modify({
    id: cache.identify({ __typename: 'Product', upc: review.product.upc }),
    fields: {
      reviews: (existing: readonly Reference[] = [], { toReference }) => {
        const added = toReference({ __typename: 'Review', id: review.id });
        return added === undefined || existing.some((entry) => entry.__ref === added.__ref) ? existing : [...existing, added];
      },
    },
  });
}
