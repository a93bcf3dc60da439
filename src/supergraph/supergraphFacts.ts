import { Kind, parse, valueFromASTUntyped, type DirectiveNode, type DocumentNode, type GraphQLSchema } from 'graphql';
import { costModel, type CostModel } from '../analysis/costModel.js';
import { fieldOwners } from '../authz/fieldOwners.js';
import { cacheHints, type CacheHints } from '../cache/cacheHints.js';

/**
 * Everything the gateway reads from one supergraph, computed once when it loads and handed to whoever needs it: the
 * parsed SDL (the cost directives and the join directives live there, not in the API schema), the subgraphs' names,
 * the cost model, which subgraph resolves each field, and the cache hints (`@cacheControl`) per type and field.
 */
export interface SupergraphFacts {
  apiSchema: GraphQLSchema;
  sdl: string;
  document: DocumentNode;
  /** The subgraphs' names, as composition gave them (`@join__graph(name:)`). */
  subgraphNames: readonly string[];
  costModel: CostModel;
  owner: (typename: string, field: string) => string | undefined;
  cacheHints: CacheHints;
}

export function supergraphFacts(apiSchema: GraphQLSchema, sdl: string): SupergraphFacts {
  const document = parse(sdl);
  return { apiSchema, sdl, document, subgraphNames: subgraphNamesOf(document), costModel: costModel(document), owner: fieldOwners(document), cacheHints: cacheHints(document) };
}

function subgraphNamesOf(document: DocumentNode): string[] {
  const names: string[] = [];
  for (const definition of document.definitions) {
    if (definition.kind !== Kind.ENUM_TYPE_DEFINITION || definition.name.value !== 'join__Graph') continue;
    for (const value of definition.values ?? []) {
      const name = value.directives?.find((directive: DirectiveNode) => directive.name.value === 'join__graph')?.arguments?.find((argument) => argument.name.value === 'name');
      const text = name === undefined ? undefined : valueFromASTUntyped(name.value);
      if (typeof text === 'string') names.push(text);
    }
  }
  return names;
}
