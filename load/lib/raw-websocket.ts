/** A minimal WebSocket client on a raw TCP socket, for load generators that hold many sockets. */
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

/**
 * A minimal WebSocket client on a raw TCP socket: the handshake, unmasked server frames parsed from
 * whatever each read returned, masked text frames to send. `ws` clients cost far more per message than
 * the servers under test (a stream and an event per frame), and the clients share the servers' cores
 * (bench:feed). Text frames only; the frames it sends are at most 125 bytes.
 */
export class RawSocket {
  private pending: Buffer = Buffer.alloc(0);
  private upgraded = false;

  constructor(
    private readonly socket: Socket,
    private readonly onText: (payload: Buffer) => void,
  ) {}

  static open(
    url: string,
    headers: Record<string, string>,
    onText: (payload: Buffer) => void,
    onClose: () => void,
  ): Promise<RawSocket> {
    const u = new URL(url);
    return new Promise((resolve, reject) => {
      const socket = connect({ host: u.hostname, port: Number(u.port) }, () => {
        socket.setNoDelay(true);
        const lines = [
          `GET ${u.pathname}${u.search} HTTP/1.1`,
          `Host: ${u.host}`,
          'Upgrade: websocket',
          'Connection: Upgrade',
          `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
          'Sec-WebSocket-Version: 13',
          ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
        ];
        socket.write(`${lines.join('\r\n')}\r\n\r\n`);
      });
      const raw = new RawSocket(socket, onText);
      socket.on('data', (chunk: Buffer) => {
        if (!raw.receive(chunk))
          reject(new Error(`upgrade refused: ${chunk.toString('latin1').split('\r\n')[0]}`));
        else if (raw.upgraded) resolve(raw);
      });
      socket.on('error', reject);
      socket.on('close', onClose);
    });
  }

  /** False when the upgrade was refused. */
  private receive(chunk: Buffer): boolean {
    let buf = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    if (!this.upgraded) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) {
        this.pending = buf;
        return true;
      }
      if (!buf.toString('latin1', 0, 12).endsWith('101')) return false;
      this.upgraded = true;
      buf = buf.subarray(end + 4);
    }
    let at = 0;
    for (;;) {
      if (buf.length - at < 2) break;
      const opcode = buf[at]! & 0x0f;
      let len = buf[at + 1]! & 0x7f;
      let head = 2;
      if (len === 126) {
        if (buf.length - at < 4) break;
        len = buf.readUInt16BE(at + 2);
        head = 4;
      } else if (len === 127) {
        if (buf.length - at < 10) break;
        len = Number(buf.readBigUInt64BE(at + 2));
        head = 10;
      }
      if (buf.length - at < head + len) break;
      if (opcode === 1) this.onText(buf.subarray(at + head, at + head + len));
      at += head + len;
    }
    this.pending = at === buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(at));
    return true;
  }

  sendText(text: string): void {
    const payload = Buffer.from(text);
    if (payload.length > 125) throw new Error('RawSocket sends frames of at most 125 bytes');
    const mask = randomBytes(4);
    const frame = Buffer.alloc(6 + payload.length);
    frame[0] = 0x81;
    frame[1] = 0x80 | payload.length;
    mask.copy(frame, 2);
    for (let i = 0; i < payload.length; i++) frame[6 + i] = payload[i]! ^ mask[i % 4]!;
    this.socket.write(frame);
  }

  destroy(): void {
    this.socket.destroy();
  }
}
