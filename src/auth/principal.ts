/** Who is calling: established once per request from its bearer token, read by every later step. */
export type Principal =
  | { readonly kind: 'anonymous' }
  | { readonly kind: 'user'; readonly subject: string; readonly roles: readonly string[]; readonly scopes: readonly string[] };

export const ANONYMOUS: Principal = Object.freeze({ kind: 'anonymous' });

/** Whether the caller holds one of these roles (the trusted documents' bypass roles, which also open introspection). */
export function hasBypassRole(principal: Principal | undefined, bypassRoles: readonly string[]): boolean {
  return principal?.kind === 'user' && principal.roles.some((role) => bypassRoles.includes(role));
}
