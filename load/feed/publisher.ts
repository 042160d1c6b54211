/**
 * The publisher process of the feed benchmark: publishes market updates (or ready-made quote frames for
 * the bare servers) and execution reports to Redis at a fixed rate, and counts those of the window.
 */
import { randomUUID } from 'node:crypto';
import { loadConfig } from '../../lib/config.js';
import { connectRedis } from '../../lib/redis.js';
import { accountChannel, marketChannel } from '../../lib/redis-keys.js';
import { accountOf, SUBSCRIBERS, SYMBOL, type PublisherCommand, type PublisherReport } from './protocol.js';

export function publisherProcess(): void {
  const config = loadConfig(process.env);
  const redis = connectRedis(config.REDIS_URL, 'bench-feed-publisher');
  const seqs = new Map<number, number>();
  let n = 0;
  let nextAccount = 0;

  const depth = (side: 1 | -1, base: number) =>
    Array.from({ length: 10 }, (_, l) => ({
      price: base + side * l * 5,
      qty: 100 + ((n + l) % 50),
      orders: 1 + (l % 4),
    }));
  const trades = Array.from({ length: 20 }, (_, t) => ({
    price: 18_995 + (t % 7),
    qty: 1 + (t % 9),
    ts: Date.now() - t * 1000,
    seq: 1000 - t,
  }));

  function marketUpdate(ts: string): string {
    n++;
    return JSON.stringify({
      symbol: SYMBOL,
      quote: { bid: { price: 18_990, qty: 100 + (n % 1000) }, ask: { price: 19_000, qty: 250 } },
      depth: { bids: depth(-1, 18_990), asks: depth(1, 19_000) },
      trades,
      ts,
      event_id: randomUUID(),
      event_type: 'market.update',
    });
  }

  /** What the feed server would send for the same update: the bare server forwards it as is. */
  function quoteFrame(ts: string): string {
    n++;
    return JSON.stringify({
      type: 'quote',
      symbol: SYMBOL,
      bid: { price: 189.9, quantity: 100 + (n % 1000) },
      ask: { price: 190, quantity: 250 },
      ts,
      event_id: randomUUID(),
    });
  }

  function executionReport(ts: string): { account: number; body: string } {
    const account = nextAccount++ % SUBSCRIBERS;
    const seq = (seqs.get(account) ?? 0) + 1;
    seqs.set(account, seq);
    return {
      account,
      body: JSON.stringify({
        event_id: randomUUID(),
        exec_type: 'partial_fill',
        order_id: randomUUID(),
        client_order_id: `bench-${seq}`,
        workflow_id: 'bench',
        symbol: SYMBOL,
        side: 'buy',
        order_type: 'limit',
        time_in_force: 'GTC',
        status: 'partially_filled',
        quantity: '10',
        price: '19000',
        fill_id: randomUUID(),
        fill_qty: '1',
        fill_price: '19000',
        cum_qty: '1',
        leaves_qty: '9',
        reserved_amount: '171000',
        lock_version: 0,
        reject_reason: null,
        ts,
        seq,
        event_type: 'execution.report',
      }),
    };
  }

  async function run(m: Extract<PublisherCommand, { cmd: 'run' }>): Promise<PublisherReport> {
    const market = marketChannel(m.prefix, SYMBOL);
    const started = performance.now();
    const inWindow: PublisherReport = { market: 0, executions: 0, marketBytes: 0 };
    let sent = 0;
    for (;;) {
      const elapsed = performance.now() - started;
      if (elapsed >= m.ms) break;
      const due = Math.floor((elapsed / 1000) * m.rate);
      if (due <= sent) {
        await new Promise((r) => setTimeout(r, 1));
        continue;
      }
      const pipe = redis.pipeline();
      for (; sent < due; sent++) {
        const now = new Date();
        const ts = now.toISOString();
        const counted = now.getTime() >= m.t0 && now.getTime() < m.t1;
        const body = m.target === 'feed' ? marketUpdate(ts) : quoteFrame(ts);
        if (counted) {
          inWindow.market++;
          inWindow.marketBytes += Buffer.byteLength(body);
        }
        if (m.target !== 'feed') pipe.publish(`${m.prefix}${m.target}`, body);
        else {
          pipe.publish(market, body);
          // One execution report per ten market updates.
          if (sent % 10 === 9) {
            const e = executionReport(ts);
            pipe.publish(accountChannel(m.prefix, accountOf(e.account)), e.body);
            if (counted) inWindow.executions++;
          }
        }
      }
      await pipe.exec();
    }
    return inWindow;
  }

  process.on('message', (m: PublisherCommand) => {
    if (m.cmd === 'exit') {
      void redis.quit().then(() => process.exit(0));
      return;
    }
    void run(m).then((report) => process.send!(report));
  });
}
