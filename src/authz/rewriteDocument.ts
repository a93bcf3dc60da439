import { Kind, visit, type DocumentNode, type FieldNode, type SelectionNode, type SelectionSetNode } from 'graphql';
import type { OperationCheck } from './checkOperation.js';

/** Prefix of the aliases under which the gateway fetches what rules read; never part of a response. */
export const AUTHZ_ALIAS_PREFIX = '__authz_';

/** The response key under which `field`, read by a rule on `type`, is fetched: one per type, since types differ. */
export function readAlias(type: string, field: string): string {
  return `${AUTHZ_ALIAS_PREFIX}${type}__${field}`;
}

/**
 * Prefix of the fields the shaping schema adds beside each field a rule reads: the same field, nullable, so that a
 * value the rule needed and did not get is a null for the rule, never a null that spreads into the client's data.
 */
export const SHADOW_FIELD_PREFIX = 'authz__';

const TYPENAME: FieldNode = { kind: Kind.FIELD, name: { kind: Kind.NAME, value: '__typename' } };

/** The two documents an authorised operation runs as (see `rewriteDocument`). */
export interface RewrittenDocuments {
  /** What the gateway plans and the subgraphs are asked for. */
  planned: DocumentNode;
  /** What the gateway's result shaping applies to the fetched data, against the shaping schema. */
  shaping: DocumentNode;
}

/**
 * The documents the gateway runs instead of the client's:
 * - denied fields removed (no subgraph is asked for them); a selection set left empty selects `__typename`;
 * - beside every guarded field, the fields its rule reads, under a type condition on the object type whose rule reads
 *   them (so that they are asked only of objects of that type, which has them) and an alias no client can collide
 *   with (client aliases beginning with `__` are refused);
 * - `__typename` where the result filter must tell an object's type and the client does not select it.
 * The shaping document is the planned one with each read field replaced by its nullable shadow.
 */
export function rewriteDocument(document: DocumentNode, check: OperationCheck): RewrittenDocuments {
  return { planned: rewrite(document, check, (_type, read) => read.name.value), shaping: rewrite(document, check, (_type, read) => `${SHADOW_FIELD_PREFIX}${read.name.value}`) };
}

function rewrite(document: DocumentNode, check: OperationCheck, fieldName: (type: string, read: FieldNode) => string): DocumentNode {
  return visit(document, {
    SelectionSet: {
      enter(node: SelectionSetNode) {
        const reads = check.reads.get(node);
        const typename = check.typenames.has(node) && !node.selections.some(isTypename);
        if (reads === undefined && !typename) return undefined;
        const added: SelectionNode[] = [];
        for (const [type, fields] of reads ?? []) {
          added.push({
            kind: Kind.INLINE_FRAGMENT,
            typeCondition: { kind: Kind.NAMED_TYPE, name: { kind: Kind.NAME, value: type } },
            selectionSet: {
              kind: Kind.SELECTION_SET,
              selections: [...fields].map((read) => ({
                ...read,
                alias: { kind: Kind.NAME, value: readAlias(type, read.name.value) },
                name: { kind: Kind.NAME, value: fieldName(type, read) },
              })),
            },
          });
        }
        if (typename) added.push(TYPENAME);
        return { ...node, selections: [...node.selections, ...added] };
      },
      leave(node: SelectionSetNode) {
        return node.selections.length === 0 ? { ...node, selections: [TYPENAME] } : undefined;
      },
    },
    Field: {
      enter(node: FieldNode) {
        return check.removed.has(node) ? null : undefined;
      },
    },
  });
}

function isTypename(selection: SelectionNode): boolean {
  return selection.kind === Kind.FIELD && selection.alias === undefined && selection.name.value === '__typename';
}
