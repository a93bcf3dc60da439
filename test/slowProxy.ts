import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A proxy in front of a subgraph that holds every answer back by `delayMs`, so that requests surely overlap; or, given
 * a function of the request's body, each answer by what it says (0: at once). What is held back is what the subgraph
 * said when it was asked.
 */
export async function slowProxy(target: string, delayMs: number | ((requestBody: string) => number)): Promise<{ url: string; close(): void; maxInFlight(): number }> {
  // How many requests were held at once at most: proves that requests a test sends together did overlap.
  let inFlight = 0;
  let maxInFlight = 0;
  const server: Server = createServer((incoming, outgoing) => {
    inFlight += 1;
    maxInFlight = Math.max(maxInFlight, inFlight);
    outgoing.once('close', () => {
      inFlight -= 1;
    });
    const chunks: Buffer[] = [];
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
    incoming.on('end', () => {
      const body = Buffer.concat(chunks);
      const hold = typeof delayMs === 'number' ? delayMs : delayMs(body.toString('utf8'));
      const forward = httpRequest(target, { method: incoming.method, headers: incoming.headers }, (answer) => {
        setTimeout(() => {
          outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(outgoing);
        }, hold);
      });
      forward.on('error', () => outgoing.destroy());
      forward.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`,
    maxInFlight: () => maxInFlight,
    close() {
      server.closeAllConnections();
      server.close();
    },
  };
}
