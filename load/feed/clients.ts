/**
 * A client process of the feed benchmark: holds its share of the sockets of every server (minimal raw
 * WebSocket clients), counts the frames of the current window and measures their delivery latency.
 */
import { cpuMsSince } from '../lib/cpu.js';
import { RawSocket } from '../lib/raw-websocket.js';
import { LAT_MAX_MS, SYMBOL, type ClientCommand, type ClientReport, type Target } from './protocol.js';

export async function clientProcess(): Promise<void> {
  const TS = Buffer.from('"ts":"');
  let win: Extract<ClientCommand, { cmd: 'window' }> | undefined;
  let published = 0;
  let arrived = 0;
  let bytes = 0;
  let hist = new Uint32Array(LAT_MAX_MS + 1);
  let cpuMs = 0;
  const closed: Record<Target, number> = { feed: 0, bare: 0, batched: 0 };
  const sockets: RawSocket[] = [];
  let lastFrameAt = Date.now();
  // Every socket gets the same frame of an update: parse its timestamp once.
  let lastTs = '';
  let lastTsMs = 0;

  function onFrame(kind: Target, data: Buffer): void {
    const now = Date.now();
    lastFrameAt = now;
    if (!win || kind !== win.target) return;
    if (now >= win.t0 && now < win.t1) {
      arrived++;
      bytes += data.length;
    }
    const i = data.indexOf(TS);
    if (i < 0) return;
    const text = data.toString('latin1', i + 6, i + 30);
    if (text !== lastTs) {
      lastTs = text;
      lastTsMs = Date.parse(text);
    }
    if (lastTsMs < win.t0 || lastTsMs >= win.t1) return;
    published++;
    const ms = Math.max(0, Math.min(LAT_MAX_MS, now - lastTsMs));
    hist[ms] = (hist[ms] ?? 0) + 1;
  }

  async function open(kind: Target, url: string, token: string | undefined): Promise<void> {
    let ready: (() => void) | undefined;
    const subscribed = new Promise<void>((r) => (ready = r));
    const socket = await RawSocket.open(
      url,
      token ? { Authorization: `Bearer ${token}` } : {},
      (data) => {
        if (ready) {
          // A feed socket is ready once the executions stream is live and the quote snapshot came.
          if (data.includes('"type":"quote"')) {
            ready();
            ready = undefined;
          }
          return;
        }
        onFrame(kind, data);
      },
      () => closed[kind]++,
    );
    sockets.push(socket);
    if (kind !== 'feed') {
      ready = undefined;
      return;
    }
    socket.sendText(JSON.stringify({ op: 'subscribe', channel: 'executions' }));
    socket.sendText(JSON.stringify({ op: 'subscribe', channel: 'quotes', symbol: SYMBOL }));
    await subscribed;
  }

  process.on('message', (m: ClientCommand) => {
    void (async () => {
      if (m.cmd === 'connect') {
        for (let i = m.from; i < m.from + m.count; i += 50) {
          const batch: Promise<void>[] = [];
          for (let j = i; j < Math.min(i + 50, m.from + m.count); j++) {
            batch.push(
              open('feed', m.urls.feed, `bench-${j}`),
              open('bare', m.urls.bare, undefined),
              open('batched', m.urls.batched, undefined),
            );
          }
          await Promise.all(batch);
        }
        process.send!({ ready: true });
      } else if (m.cmd === 'window') {
        win = m;
        published = arrived = bytes = cpuMs = 0;
        hist = new Uint32Array(LAT_MAX_MS + 1);
        let cpu0 = process.cpuUsage();
        setTimeout(() => (cpu0 = process.cpuUsage()), m.t0 - Date.now());
        setTimeout(() => (cpuMs = cpuMsSince(cpu0)), m.t1 - Date.now());
        process.send!({ ok: true });
      } else if (m.cmd === 'report') {
        const report: ClientReport = {
          published,
          arrived,
          bytes,
          hist: Array.from(hist),
          closed: { ...closed },
          cpuMs,
        };
        win = undefined;
        process.send!(report);
      } else if (m.cmd === 'quiet') {
        process.send!({ idleMs: Date.now() - lastFrameAt });
      } else {
        for (const s of sockets) s.destroy();
        process.exit(0);
      }
    })();
  });
}
