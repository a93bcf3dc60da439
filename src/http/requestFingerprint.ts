import { createHash } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { queryOf } from './documentGate.js';

/**
 * What a refused request sent, known by a hash, so that the same thing sent again counts once against its client
 * (ClientGuard.note's `repeatOf`): its document when it has one, hashed as Apollo Server hashes it (so a document
 * refused once by validation and once for its `variables` is one), else its whole body or query string. An app that
 * double-encodes its variables on every request is broken, not probing.
 */
export function requestFingerprint(request: FastifyRequest): string {
  const query = queryOf(request.body, request.query);
  const sent = query ?? (request.body !== undefined ? JSON.stringify(request.body) : request.url);
  return createHash('sha256').update(sent).digest('hex');
}
