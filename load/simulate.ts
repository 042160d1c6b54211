/**
 * `npm run simulate`: a living market on a running BrokerX (`npm start`). Market makers quote a bid and
 * an ask around a drifting mid on every seeded symbol; takers cross the spread with IOC orders. Every
 * bot is a real client, `sim-<i>@load.brokerx.test`, set up as the load generator sets up its users
 * (load/scenarios/users.ts: an existing one logs in, a new one registers and verifies; MFA through
 * Mailpit; a deposit), so repeated runs stay within the api's registration limits.
 *
 * Makers and takers need shares to sell: each bot gets an inventory allocation from the house liquidity
 * account (a balanced ledger entry, `house_allocation`), the one step that is not a public API call.
 *
 * Env: SIM_MAKERS (2), SIM_TAKERS (3), SIM_TAKER_INTERVAL_MS (700), SIM_QUOTE_INTERVAL_MS (2000).
 */
import { randomInt } from 'node:crypto';
import { loadConfig } from '../lib/config.js';
import { connectDatabase } from '../db/client.js';
import { HOUSE_ACCOUNT_ID } from '../db/accounts.js';
import { postEntry } from '../db/queries/ledger.js';
import { listInstruments } from '../db/queries/orders.js';
import { CASH_SCALE, formatDecimal } from '../lib/money.js';
import { cancelOrder, placeOrder, quote, type Endpoints, type Session } from './client.js';
import { sessions } from './scenarios/users.js';

const config = loadConfig(process.env);
const num = (v: string | undefined, d: number) => (v && Number.isFinite(Number(v)) ? Number(v) : d);
const MAKERS = num(process.env.SIM_MAKERS, 2);
const TAKERS = num(process.env.SIM_TAKERS, 3);
const TAKER_INTERVAL_MS = num(process.env.SIM_TAKER_INTERVAL_MS, 700);
const QUOTE_INTERVAL_MS = num(process.env.SIM_QUOTE_INTERVAL_MS, 2000);
const INVENTORY = 2000n;

const ep: Endpoints = { api: `http://127.0.0.1:${config.PORT}`, mailpit: config.MAILPIT_URL };
const database = connectDatabase(config.DATABASE_URL, { max: 2, appName: 'simulator' });
const log = (msg: string) => console.log(`[simulate] ${msg}`);

const stats = { quotes: 0, takes: 0, fills: 0, errors: 0 };
let running = true;
process.on('SIGINT', () => (running = false));
process.on('SIGTERM', () => (running = false));

async function allocate(s: Session, symbols: string[]): Promise<void> {
  await database.db.transaction((tx) =>
    postEntry(tx, {
      kind: 'house_allocation',
      reference: `simulator:${s.accountId}`,
      memo: 'Market simulator inventory from the house account',
      postings: symbols.flatMap((asset) => [
        { accountId: HOUSE_ACCOUNT_ID, asset, bucket: 'available' as const, amount: -INVENTORY },
        { accountId: s.accountId, asset, bucket: 'available' as const, amount: INVENTORY },
      ]),
    }),
  );
}

const cents = (c: bigint) => formatDecimal(c, CASH_SCALE);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const instruments = await listInstruments(database.db);
  const symbols = instruments.map((i) => i.symbol);
  // Integer cents throughout: the mid, the half band it may drift in, the quotes.
  const ref = new Map(instruments.map((i) => [i.symbol, i.referencePrice]));
  const halfBand = new Map(
    instruments.map((i) => [i.symbol, (i.referencePrice * BigInt(i.priceBandBps)) / 20_000n]),
  );
  const mid = new Map(ref);

  log(
    `logging in ${MAKERS} makers and ${TAKERS} takers (registering any that are new) through ${ep.api} (mail via ${ep.mailpit})`,
  );
  const bots = await sessions(ep, MAKERS + TAKERS, 'sim', 'simulator-bot-password', 24 * 3600);
  for (const b of bots) await allocate(b, symbols); // once per bot: the entry's reference is the account
  const makers = bots.slice(0, MAKERS);
  const takers = bots.slice(MAKERS);
  log(`ready: quoting ${symbols.join(', ')}; Ctrl-C to stop`);

  const makerLoop = async (m: Session, k: number) => {
    const live = new Map<string, string[]>();
    await sleep(k * 300);
    while (running) {
      for (const symbol of symbols) {
        // The mid drifts by a few ticks, never leaving the middle half of the price band.
        const r = ref.get(symbol)!;
        const b = halfBand.get(symbol)!;
        const drifted = mid.get(symbol)! + BigInt(randomInt(-20, 21));
        const next = drifted > r + b ? r + b : drifted < r - b ? r - b : drifted;
        mid.set(symbol, next);
        const half = BigInt(5 + randomInt(0, 20));
        for (const id of live.get(symbol) ?? []) await cancelOrder(ep, m, id).catch(() => undefined);
        try {
          const [bid, ask] = await Promise.all([
            placeOrder(ep, m, {
              symbol,
              order_type: 'limit',
              direction: 'buy',
              quantity: 5 + randomInt(0, 45),
              price: cents(next - half),
              time_in_force: 'GTC',
            }),
            placeOrder(ep, m, {
              symbol,
              order_type: 'limit',
              direction: 'sell',
              quantity: 5 + randomInt(0, 45),
              price: cents(next + half),
              time_in_force: 'GTC',
            }),
          ]);
          live.set(symbol, [bid.order_id, ask.order_id]);
          stats.quotes += 2;
        } catch {
          stats.errors++;
        }
      }
      await sleep(QUOTE_INTERVAL_MS);
    }
  };

  const takerLoop = async (t: Session) => {
    while (running) {
      await sleep(TAKER_INTERVAL_MS / 2 + randomInt(0, TAKER_INTERVAL_MS));
      const symbol = symbols[randomInt(0, symbols.length)]!;
      try {
        const q = await quote(ep, symbol);
        const buy = randomInt(0, 2) === 0;
        const touch = buy ? q.quote.ask : q.quote.bid;
        if (!touch) continue;
        const o = await placeOrder(ep, t, {
          symbol,
          order_type: 'limit',
          direction: buy ? 'buy' : 'sell',
          quantity: 1 + randomInt(0, 10),
          price: touch.price_exact,
          time_in_force: 'IOC',
        });
        stats.takes++;
        if (o.filled_quantity > 0) stats.fills++;
      } catch {
        stats.errors++;
      }
    }
  };

  const report = setInterval(
    () => log(`quotes ${stats.quotes}, takes ${stats.takes}, fills ${stats.fills}, errors ${stats.errors}`),
    5000,
  );
  await Promise.all([...makers.map(makerLoop), ...takers.map(takerLoop)]);
  clearInterval(report);
  log('stopped');
}

try {
  await main();
} finally {
  await database.close();
}
