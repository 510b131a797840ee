/**
 * Lingering close. When the server closes a connection after a response (`Connection: close`), Node half-closes
 * it and destroys it as soon as the response is flushed. If the client is still sending — Fastify answers a body
 * over AROGYA_BODY_LIMIT with 413 and `Connection: close` from its Content-Length, before reading it — the bytes
 * that keep arriving at a destroyed socket make the kernel answer with a reset, and the client sees EPIPE or
 * ECONNRESET instead of the 413 it was sent (the fuzzer counted 73 such resets in 26,599 requests). So the
 * connection lingers: the response goes out with a FIN, what the client still sends is read and discarded (Node
 * dumps the unread request body), and the socket is destroyed when the client closes its side, or after
 * LINGER_MS at the latest (a client that keeps sending past that gets the reset it asked for). Requests Node's
 * parser refuses (headers over the limit: rest/errors.ts clientErrorHandler) are answered and closed the same way.
 */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

export const LINGER_MS = 5_000;

const lingering = new WeakSet<Duplex>();

/**
 * Ends `socket` after what was written to it and reads on until the client closes its side, or LINGER_MS at the
 * latest, then destroys it. Called again for the same socket, it does nothing more.
 */
export function linger(socket: Duplex): void {
  if (socket.destroyed || lingering.has(socket)) return;
  lingering.add(socket);
  if (socket.writable) socket.end();
  // the client's FIN: both sides are done (net destroys a socket whose both halves ended; this is the backstop)
  socket.once('end', () => socket.destroy());
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
  // reading goes on (the request body is dumped), so a paused socket would never see the client's FIN
  socket.resume();
}

export function lingerOnClose(server: Server): void {
  server.on('connection', (socket: Socket) => {
    socket.destroySoon = function lingeringClose(this: Socket): void {
      linger(this);
    };
  });
}
