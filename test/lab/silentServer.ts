import { createServer, type Socket } from 'node:net';
import { boundPort } from '../../lab/net/freePort.js';

/**
 * A loopback server that accepts connections and never answers: what a lab probe met on a port
 * another server held. Its sockets read and drop what comes (a paused socket would never see the
 * client's end, nor close); `release` stops it and drops every connection it accepted.
 */
export async function silentServer(): Promise<{
  port: number;
  sockets: Socket[];
  release: () => Promise<void>;
}> {
  const sockets: Socket[] = [];
  const server = createServer((socket) => void sockets.push(socket.resume()));
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  const release = async () => {
    const closed = new Promise((resolve) => server.close(resolve));
    for (const socket of sockets) socket.destroy();
    await closed;
  };
  return { port: boundPort(server), sockets, release };
}

/** How many sockets are still open after `ms`, or 0 once all have closed (only the client closes them here). */
export async function stillOpen(sockets: Socket[], ms: number): Promise<number> {
  const closed = sockets.map((socket) =>
    socket.closed ? Promise.resolve() : new Promise((resolve) => socket.once('close', resolve)),
  );
  await Promise.race([Promise.all(closed), new Promise((resolve) => setTimeout(resolve, ms))]);
  return sockets.filter((socket) => !socket.closed).length;
}
