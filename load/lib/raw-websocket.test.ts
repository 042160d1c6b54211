import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { RawSocket } from './raw-websocket.js';

describe('RawSocket', () => {
  const http = createServer((_req, res) => res.writeHead(404).end());
  const wss = new WebSocketServer({ server: http, perMessageDeflate: false });
  let url = '';

  beforeAll(async () => {
    // Echoes every text frame back with the upgrade's authorization header, then a large frame.
    wss.on('connection', (ws, req) => {
      ws.on('message', (data: Buffer) => {
        ws.send(`${req.headers.authorization ?? '-'}:${data.toString()}`);
        ws.send('x'.repeat(70_000));
      });
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    url = `ws://127.0.0.1:${(http.address() as AddressInfo).port}/ws`;
  });

  afterAll(async () => {
    wss.close();
    await new Promise((r) => http.close(r));
  });

  it('upgrades with the headers given, sends masked text frames and reads frames of every length', async () => {
    const frames: string[] = [];
    let done: () => void = () => {};
    const both = new Promise<void>((r) => (done = r));
    const socket = await RawSocket.open(
      url,
      { Authorization: 'Bearer t' },
      (payload) => {
        frames.push(payload.toString());
        if (frames.length === 2) done();
      },
      () => {},
    );
    socket.sendText('hello');
    await both;
    socket.destroy();
    expect(frames[0]).toBe('Bearer t:hello');
    expect(frames[1]).toHaveLength(70_000);
  });

  it('refuses to send frames over 125 bytes', async () => {
    const socket = await RawSocket.open(
      url,
      {},
      () => {},
      () => {},
    );
    expect(() => socket.sendText('y'.repeat(126))).toThrow(/125 bytes/);
    socket.destroy();
  });

  it('rejects when the server refuses the upgrade', async () => {
    const plain = createServer((_req, res) => res.writeHead(404).end());
    await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
    const port = (plain.address() as AddressInfo).port;
    await expect(
      RawSocket.open(
        `ws://127.0.0.1:${port}/`,
        {},
        () => {},
        () => {},
      ),
    ).rejects.toThrow(/upgrade refused/);
    await new Promise((r) => plain.close(r));
  });
});
