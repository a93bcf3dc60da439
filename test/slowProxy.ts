import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A proxy in front of a subgraph that holds every answer back by `delayMs`, so that requests surely overlap. */
export async function slowProxy(target: string, delayMs: number): Promise<{ url: string; close(): void }> {
  const server: Server = createServer((incoming, outgoing) => {
    const forward = httpRequest(target, { method: incoming.method, headers: incoming.headers }, (answer) => {
      setTimeout(() => {
        outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(outgoing);
      }, delayMs);
    });
    incoming.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`,
    close() {
      server.closeAllConnections();
      server.close();
    },
  };
}
