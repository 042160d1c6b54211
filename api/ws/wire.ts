/**
 * The fan-out fast path: a frame that goes to many sockets is framed once (RFC 6455 §5.2: an unmasked
 * text frame, as servers send) and the same bytes are written to each socket, instead of `ws` building
 * a header and corking the socket again for every one of them. Only without per-message compression
 * (the feed disables it): then `ws` writes every frame to the socket at once, so frames written here and
 * frames sent through `ws` (pings, close) keep their order. Also what `/ws` and `/cable` share about their
 * sockets: the `ws` server and the close that cuts off a peer that does not answer.
 */
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';

/** A frame shared by many sockets: the JSON payload and the same payload framed for the wire. */
export interface SharedFrame {
  payload: Buffer;
  wire: Buffer;
}

/** FIN + text opcode, unmasked, with the shortest length encoding. */
export function textFrame(payload: Buffer): Buffer {
  const n = payload.length;
  const head = n < 126 ? 2 : n < 65_536 ? 4 : 10;
  const out = Buffer.allocUnsafe(head + n);
  out[0] = 0x81;
  if (n < 126) {
    out[1] = n;
  } else if (n < 65_536) {
    out[1] = 126;
    out.writeUInt16BE(n, 2);
  } else {
    out[1] = 127;
    out.writeBigUInt64BE(BigInt(n), 2);
  }
  payload.copy(out, head);
  return out;
}

export const sharedFrame = (payload: Buffer): SharedFrame => ({ payload, wire: textFrame(payload) });

/**
 * The TCP socket under a server-side `ws` WebSocket. `ws` keeps it in a field it does not document;
 * when that ever changes this returns undefined and the feed falls back to `ws.send`.
 */
export function socketOf(ws: WebSocket): Duplex | undefined {
  const socket = (ws as unknown as { _socket?: unknown })._socket;
  return socket !== null && typeof socket === 'object' && typeof (socket as Duplex).write === 'function'
    ? (socket as Duplex)
    : undefined;
}

/** How long a closed socket's peer has to answer the close frame (`/ws` and `/cable`). */
export const CLOSE_GRACE_MS = 2_000;

/**
 * Close `ws` with `code`; a peer that does not answer the close frame within `graceMs` (or does not read
 * at all) is cut off, instead of `ws` waiting 30 s for it and the http server's close with it. Resolves
 * once the socket is closed.
 */
export function closeWithin(ws: WebSocket, graceMs: number, code: number, reason?: string): Promise<void> {
  const closed = new Promise<void>((resolve) => {
    if (ws.readyState === ws.CLOSED) resolve();
    else ws.once('close', () => resolve());
  });
  ws.close(code, reason);
  const cutOff = setTimeout(() => ws.terminate(), graceMs);
  cutOff.unref();
  return closed.finally(() => clearTimeout(cutOff));
}

/**
 * The `ws` server of a feed (`/ws`, `/cable`): the feed hands it the upgrades it accepted, without
 * per-message compression (the shared frames above need it off) or a client set (the feed keeps its own),
 * and it answers with `protocol` when the client offers it.
 */
export function feedSocketServer(maxPayloadBytes: number, protocol: string): WebSocketServer {
  return new WebSocketServer({
    noServer: true,
    maxPayload: maxPayloadBytes,
    perMessageDeflate: false,
    clientTracking: false,
    handleProtocols: (offered) => (offered.has(protocol) ? protocol : false),
  });
}
