import { createServer, type AddressInfo } from 'node:net';

/** A TCP port on 127.0.0.1 that was free a moment ago: bind to port 0, read it, let it go. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/** The port a listening server bound (given port 0, the system's pick). */
export function boundPort(server: { address(): string | AddressInfo | null }): number {
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('the server is not listening on TCP');
  return address.port;
}
