import { Kind, visit, type DocumentNode, type FieldNode, type SelectionSetNode } from 'graphql';
import type { OperationCheck } from './checkOperation.js';

/** Prefix of the aliases under which the gateway fetches what rules read; never part of a response. */
export const AUTHZ_ALIAS_PREFIX = '__authz_';

function aliasedField(field: string): FieldNode {
  return { kind: Kind.FIELD, alias: { kind: Kind.NAME, value: `${AUTHZ_ALIAS_PREFIX}${field}` }, name: { kind: Kind.NAME, value: field } };
}

const TYPENAME: FieldNode = { kind: Kind.FIELD, name: { kind: Kind.NAME, value: '__typename' } };

/**
 * The document the gateway plans and runs instead of the client's: denied fields removed (no subgraph is asked for
 * them), and, beside every guarded field, the parent fields its rule reads plus `__typename` on abstract selections,
 * under aliases no client can collide with. A selection set left empty selects `__typename`, to stay valid.
 */
export function rewriteDocument(document: DocumentNode, check: OperationCheck): DocumentNode {
  return visit(document, {
    SelectionSet: {
      enter(node: SelectionSetNode) {
        const wanted = check.parentFields.get(node);
        const abstract = check.abstractSelections.has(node);
        if (wanted === undefined && !abstract) return undefined;
        const added = [...(wanted ?? [])].map(aliasedField);
        if (abstract) added.push(aliasedField('__typename'));
        return { ...node, selections: [...node.selections, ...added] };
      },
      leave(node: SelectionSetNode) {
        return node.selections.length === 0 ? { ...node, selections: [TYPENAME] } : undefined;
      },
    },
    Field: {
      enter(node: FieldNode) {
        return check.denied.has(node) ? null : undefined;
      },
    },
  });
}
