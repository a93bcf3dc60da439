import { Kind, parse, print, visit, type DirectiveNode } from 'graphql';

/** The authorization specs this gateway enforces itself (src/authz), by URL prefix. */
const ENFORCED_SECURITY_FEATURES = [
  'https://specs.apollo.dev/authenticated/',
  'https://specs.apollo.dev/requiresScopes/',
  'https://specs.apollo.dev/policy/',
];

/**
 * A supergraph that links a feature `for: SECURITY` must be refused by a router that does not implement it (the link
 * spec), and @apollo/gateway implements none: it refuses any supergraph using @authenticated, @requiresScopes or
 * @policy. This gateway enforces those three itself, so for them, and only them, it drops `for: SECURITY` before
 * handing the supergraph to @apollo/gateway. Any other security feature still makes the gateway refuse the file.
 * The directives themselves stay in place, for the access policy to read.
 */
export function acknowledgeEnforcedSecurityFeatures(supergraphSdl: string): string {
  if (!supergraphSdl.includes('SECURITY')) return supergraphSdl;
  let changed = false;
  const document = visit(parse(supergraphSdl), {
    Directive(node: DirectiveNode) {
      if (node.name.value !== 'link') return undefined;
      const url = node.arguments?.find((argument) => argument.name.value === 'url')?.value;
      const purpose = node.arguments?.find((argument) => argument.name.value === 'for')?.value;
      if (url?.kind !== Kind.STRING || purpose?.kind !== Kind.ENUM || purpose.value !== 'SECURITY') return undefined;
      if (!ENFORCED_SECURITY_FEATURES.some((prefix) => url.value.startsWith(prefix))) return undefined;
      changed = true;
      return { ...node, arguments: node.arguments?.filter((argument) => argument.name.value !== 'for') };
    },
  });
  return changed ? print(document) : supergraphSdl;
}
