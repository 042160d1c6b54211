/**
 * The BrokerX schema. Money is integer cents, prices integer ticks (cents), quantities integer shares,
 * all `bigint`. Balances are the materialised sums of ledger postings; `CHECK`s keep them non-negative
 * for every account that is not an external counterparty.
 */
import { sql, type SQL, type SQLWrapper } from 'drizzle-orm';
import {
  DEFAULT_SELF_TRADE_PREVENTION,
  ORDER_STATUSES,
  ORDER_TYPES,
  SELF_TRADE_PREVENTIONS,
  SIDES,
  TERMINAL_STATUSES,
  TIME_IN_FORCES,
} from '../temporal/orders.js';
import {
  bigint,
  bigserial,
  boolean,
  check,
  date,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';

export const USER_ROLES = ['client', 'operator'] as const;

const big = (name: string) => bigint(name, { mode: 'bigint' });
const ts = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

/**
 * An order not finished, over its status column: the predicate of `orders_account_open_idx`, and the
 * condition of the queries that read that index (db/queries/controls.ts), written by this one function
 * because the planner uses a partial index only under a condition that repeats its predicate.
 */
export const unfinishedOrder = (status: SQLWrapper): SQL =>
  sql`${status} NOT IN (${sql.raw(TERMINAL_STATUSES.map((s) => `'${s}'`).join(', '))})`;

// ---- identity -------------------------------------------------------------------------------

export const users = pgTable(
  'users',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    email: text('email').notNull(),
    passwordHash: text('password_hash').notNull(),
    firstName: text('first_name').notNull(),
    lastName: text('last_name').notNull(),
    dateOfBirth: date('date_of_birth'),
    phone: text('phone'),
    /** pending (email not verified) -> active; suspended blocks login. */
    status: text('status', { enum: ['pending', 'active', 'suspended'] })
      .notNull()
      .default('pending'),
    /** client: trades; operator: also reaches /api/v1/admin (created by `npm run operator:create`). */
    role: text('role', { enum: USER_ROLES }).notNull().default('client'),
    /** Base32 TOTP secret (email codes before enrollment, the app's codes after). */
    totpSecret: text('totp_secret').notNull(),
    /** Secret offered by enrollment, active only after a first valid code. */
    totpPendingSecret: text('totp_pending_secret'),
    totpEnrolledAt: ts('totp_enrolled_at'),
    /** Last accepted TOTP time step: a code is accepted once (compare-and-set on this column). */
    totpLastStep: big('totp_last_step')
      .notNull()
      .default(sql`0`),
    createdAt: ts('created_at').notNull().defaultNow(),
    verifiedAt: ts('verified_at'),
  },
  (t) => [uniqueIndex('users_email_key').on(sql`lower(${t.email})`)],
);

export const verificationTokens = pgTable(
  'verification_tokens',
  {
    tokenHash: text('token_hash').primaryKey(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    expiresAt: ts('expires_at').notNull(),
    usedAt: ts('used_at'),
    createdAt: ts('created_at').notNull().defaultNow(),
    /**
     * What this registration chose (password hash, names, ...): the user row takes them only when this
     * link is followed, so a link activates the registration it was mailed for and nobody else's. Null for
     * links minted before migration 0003 (the user row's values apply).
     */
    registration: jsonb('registration').$type<Registration>(),
    /** Set when a newer registration of the same address superseded this link. */
    supersededAt: ts('superseded_at'),
  },
  (t) => [index('verification_tokens_user_idx').on(t.userId)],
);

/** The choices of one registration, kept with its verification link. */
export interface Registration {
  passwordHash: string;
  firstName: string;
  lastName: string;
  dateOfBirth: string | null;
  phone: string | null;
}

/** Single-use, short-lived password-reset links (only the SHA-256 of the token is stored). */
export const passwordResetTokens = pgTable(
  'password_reset_tokens',
  {
    tokenHash: text('token_hash').primaryKey(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    expiresAt: ts('expires_at').notNull(),
    usedAt: ts('used_at'),
    createdAt: ts('created_at').notNull().defaultNow(),
  },
  (t) => [index('password_reset_tokens_user_idx').on(t.userId)],
);

/** Recovery codes of the second factor: shown once at activation, stored hashed, each usable once. */
export const recoveryCodes = pgTable(
  'recovery_codes',
  {
    codeHash: text('code_hash').primaryKey(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    usedAt: ts('used_at'),
    createdAt: ts('created_at').notNull().defaultNow(),
  },
  (t) => [index('recovery_codes_user_idx').on(t.userId)],
);

/**
 * Mail-based resets of a lost authenticator app (ADR 0008): requested after a correct password, confirmed
 * with a single-use link mailed to the owner (only its SHA-256 is stored), carried out `effective_at`
 * (MFA_RESET_DELAY_SECONDS after confirmation) unless cancelled meanwhile. The token also cancels.
 */
export const mfaResets = pgTable(
  'mfa_resets',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    tokenHash: text('token_hash').notNull().unique(),
    requestedAt: ts('requested_at').notNull(),
    /** The confirmation link works until then. */
    linkExpiresAt: ts('link_expires_at').notNull(),
    confirmedAt: ts('confirmed_at'),
    /** When the app is removed (confirmation + the delay); null until confirmed. */
    effectiveAt: ts('effective_at'),
    cancelledAt: ts('cancelled_at'),
    /** cancel_link, app_login, recovery_code, password_change, password_reset, superseded, mfa_changed */
    cancelReason: text('cancel_reason'),
    completedAt: ts('completed_at'),
  },
  (t) => [index('mfa_resets_user_idx').on(t.userId)],
);

export const refreshTokens = pgTable(
  'refresh_tokens',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** All tokens descending from one login share a family; reuse of a rotated token revokes it. */
    familyId: uuid('family_id').notNull(),
    tokenHash: text('token_hash').notNull().unique(),
    expiresAt: ts('expires_at').notNull(),
    rotatedAt: ts('rotated_at'),
    revokedAt: ts('revoked_at'),
    createdAt: ts('created_at').notNull().defaultNow(),
    /** Where the token was issued (login or refresh): the client address and User-Agent, for the owner's session list. */
    ip: text('ip'),
    userAgent: text('user_agent'),
  },
  (t) => [
    index('refresh_tokens_family_idx').on(t.familyId),
    /** A user's sessions: ending them all, and whether the user ever logged in (new-login mail). */
    index('refresh_tokens_user_idx').on(t.userId),
  ],
);

/**
 * The login sources a user trusts (ADR 0008): a source is trusted for 90 days from the last completed
 * login (password and second factor) or unlock link from it. In Postgres, so a Redis restart forgets none.
 */
export const trustedSources = pgTable(
  'trusted_sources',
  {
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** The client address as the login limits see it, pseudonymised (keyId in api/auth/crypto.ts). */
    source: text('source').notNull(),
    trustedAt: ts('trusted_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.userId, t.source] })],
);

/** Signing keys for access JWTs; public halves are served at /.well-known/jwks.json. */
export const signingKeys = pgTable('signing_keys', {
  kid: text('kid').primaryKey(),
  alg: text('alg').notNull(),
  publicJwk: jsonb('public_jwk').notNull(),
  privateJwk: jsonb('private_jwk').notNull(),
  createdAt: ts('created_at').notNull().defaultNow(),
  /** Signing stops at retiredAt; the key keeps verifying until every token it signed has expired. */
  retiredAt: ts('retired_at'),
});

// ---- accounts and ledger ----------------------------------------------------------------------

export const accounts = pgTable(
  'accounts',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    /** Null for house and system accounts. */
    userId: uuid('user_id').references(() => users.id),
    /** client: a customer's; house: the broker's liquidity account; external: the outside world (bank, issuer). */
    kind: text('kind', { enum: ['client', 'house', 'external'] }).notNull(),
    name: text('name').notNull(),
    currency: text('currency').notNull().default('USD'),
    status: text('status', { enum: ['active', 'frozen', 'closed'] })
      .notNull()
      .default('active'),
    createdAt: ts('created_at').notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('accounts_user_key')
      .on(t.userId)
      .where(sql`${t.kind} = 'client'`),
  ],
);

/**
 * One row per (account, asset): asset is 'USD' (cents) or an instrument symbol (shares).
 * external accounts may go negative (money entering the system); nobody else may.
 */
export const balances = pgTable(
  'balances',
  {
    accountId: uuid('account_id')
      .notNull()
      .references(() => accounts.id),
    asset: text('asset').notNull(),
    available: big('available')
      .notNull()
      .default(sql`0`),
    reserved: big('reserved')
      .notNull()
      .default(sql`0`),
    allowNegative: boolean('allow_negative').notNull().default(false),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.accountId, t.asset] }),
    check('balances_non_negative', sql`${t.allowNegative} OR (${t.available} >= 0 AND ${t.reserved} >= 0)`),
  ],
);

export const journalEntries = pgTable(
  'journal_entries',
  {
    id: bigserial('id', { mode: 'bigint' }).primaryKey(),
    /** deposit, withdrawal, reserve, release, trade, seed */
    kind: text('kind').notNull(),
    /** What caused it: a deposit id, an order id, a trade id. */
    reference: text('reference').notNull(),
    memo: text('memo'),
    createdAt: ts('created_at').notNull().defaultNow(),
  },
  /** (kind, reference) is unique: posting the same business event twice is a no-op (idempotent activities). */
  (t) => [
    uniqueIndex('journal_entries_kind_reference_key').on(t.kind, t.reference),
    /** The statement's pages (db/queries/statement.ts): entries in time order, from a cursor on. */
    index('journal_entries_created_at_idx').on(t.createdAt, t.id),
  ],
);

/** Postings of one entry sum to zero per asset (checked by the conservation query). */
export const postings = pgTable(
  'postings',
  {
    id: bigserial('id', { mode: 'bigint' }).primaryKey(),
    entryId: big('entry_id')
      .notNull()
      .references(() => journalEntries.id),
    accountId: uuid('account_id')
      .notNull()
      .references(() => accounts.id),
    asset: text('asset').notNull(),
    bucket: text('bucket', { enum: ['available', 'reserved'] }).notNull(),
    amount: big('amount').notNull(),
  },
  (t) => [index('postings_entry_idx').on(t.entryId), index('postings_account_idx').on(t.accountId, t.asset)],
);

/** Deposits and withdrawals (cash movements across the system boundary). */
export const cashTransfers = pgTable(
  'cash_transfers',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    accountId: uuid('account_id')
      .notNull()
      .references(() => accounts.id),
    direction: text('direction', { enum: ['deposit', 'withdrawal'] }).notNull(),
    amount: big('amount').notNull(),
    currency: text('currency').notNull(),
    status: text('status').notNull().default('settled'),
    entryId: big('entry_id')
      .notNull()
      .references(() => journalEntries.id),
    balanceAfter: big('balance_after').notNull(),
    createdAt: ts('created_at').notNull().defaultNow(),
  },
  (t) => [
    index('cash_transfers_account_idx').on(t.accountId, t.createdAt),
    check('cash_transfers_amount_positive', sql`${t.amount} > 0`),
  ],
);

export const idempotencyKeys = pgTable(
  'idempotency_keys',
  {
    accountId: uuid('account_id')
      .notNull()
      .references(() => accounts.id),
    key: text('key').notNull(),
    /** Which operation the key was used for (deposit, withdrawal): the same key on another route is a mismatch. */
    scope: text('scope').notNull(),
    requestHash: text('request_hash').notNull(),
    status: text('status', { enum: ['in_progress', 'completed'] })
      .notNull()
      .default('in_progress'),
    responseStatus: integer('response_status'),
    responseBody: jsonb('response_body'),
    createdAt: ts('created_at').notNull().defaultNow(),
    expiresAt: ts('expires_at').notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.accountId, t.key] }),
    index('idempotency_keys_expires_idx').on(t.expiresAt),
  ],
);

// ---- instruments, orders, trades ----------------------------------------------------------------

export const instruments = pgTable(
  'instruments',
  {
    symbol: text('symbol').primaryKey(),
    name: text('name').notNull(),
    /** Price increment in cents. Prices are stored in cents and must be a multiple of it. */
    tickSize: big('tick_size').notNull(),
    lotSize: big('lot_size').notNull(),
    /** Reference price (cents) and the band around it (basis points) outside which orders are refused. */
    referencePrice: big('reference_price').notNull(),
    priceBandBps: integer('price_band_bps').notNull(),
    status: text('status', { enum: ['trading', 'halted', 'closed'] })
      .notNull()
      .default('trading'),
    createdAt: ts('created_at').notNull().defaultNow(),
  },
  (t) => [
    check('instruments_tick_positive', sql`${t.tickSize} > 0`),
    check('instruments_lot_positive', sql`${t.lotSize} > 0`),
    check('instruments_reference_positive', sql`${t.referencePrice} > 0`),
  ],
);

export const orders = pgTable(
  'orders',
  {
    id: uuid('id').primaryKey(),
    accountId: uuid('account_id')
      .notNull()
      .references(() => accounts.id),
    clientOrderId: text('client_order_id').notNull(),
    symbol: text('symbol')
      .notNull()
      .references(() => instruments.symbol),
    side: text('side', { enum: SIDES }).notNull(),
    orderType: text('order_type', { enum: ORDER_TYPES }).notNull(),
    timeInForce: text('time_in_force', { enum: TIME_IN_FORCES }).notNull(),
    /**
     * A DAY order's end: its session's close, past which the shard expires it before its book trades
     * (docs/adr/0044-day-orders-expire-in-the-shard.md); null for other time in forces and for orders
     * from before migration 0021 (their saga's timer expires them).
     */
    expiresAt: ts('expires_at'),
    selfTradePrevention: text('self_trade_prevention', { enum: SELF_TRADE_PREVENTIONS })
      .notNull()
      .default(DEFAULT_SELF_TRADE_PREVENTION),
    quantity: big('quantity').notNull(),
    /** Limit price in cents; null for market and stop orders. */
    price: big('price'),
    /** Stop and stop-limit orders: the trigger price in cents; null for others. */
    stopPrice: big('stop_price'),
    /** When a stop order triggered (left `pending_trigger`); null before and for other orders. */
    triggeredAt: ts('triggered_at'),
    filledQuantity: big('filled_quantity')
      .notNull()
      .default(sql`0`),
    /** Sum of qty x price over fills, in cents, for the average price. */
    filledNotional: big('filled_notional')
      .notNull()
      .default(sql`0`),
    status: text('status', { enum: ORDER_STATUSES }).notNull().default('pending'),
    /** Cents reserved per share for buys: the limit price, or the market-buy collar. */
    reservePrice: big('reserve_price').notNull(),
    /** What is still reserved for this order: cents for buys, shares for sells. */
    reservedAmount: big('reserved_amount')
      .notNull()
      .default(sql`0`),
    lockVersion: integer('lock_version').notNull().default(0),
    /** Book priority: lower rests first at a price. Assigned by the matching worker. */
    bookSeq: big('book_seq'),
    rejectReason: text('reject_reason'),
    /** The saga's id for the last replace/cancel applied: a retried request is recognised, not re-applied. */
    lastRequestId: text('last_request_id'),
    /** The placement request's fingerprint (temporal/contracts.ts `orderFingerprint`); null before migration 0004. */
    requestFingerprint: text('request_fingerprint'),
    workflowId: text('workflow_id').notNull(),
    createdAt: ts('created_at').notNull().defaultNow(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('orders_client_order_key').on(t.accountId, t.clientOrderId),
    index('orders_account_idx').on(t.accountId, t.createdAt),
    index('orders_open_idx')
      .on(t.symbol, t.bookSeq)
      .where(sql`${t.status} IN ('working', 'partially_filled')`),
    check('orders_quantity_positive', sql`${t.quantity} > 0`),
    check('orders_filled_within', sql`${t.filledQuantity} >= 0 AND ${t.filledQuantity} <= ${t.quantity}`),
    check('orders_reserved_non_negative', sql`${t.reservedAmount} >= 0`),
    check(
      'orders_self_trade_prevention_known',
      sql`${t.selfTradePrevention} IN ('cancel_newest', 'cancel_oldest', 'cancel_both')`,
    ),
    check(
      'orders_stop_price',
      sql`(${t.orderType} IN ('stop', 'stop_limit')) = (${t.stopPrice} IS NOT NULL) AND (${t.stopPrice} IS NULL OR ${t.stopPrice} > 0)`,
    ),
    index('orders_pending_stop_idx')
      .on(t.symbol, t.bookSeq)
      .where(sql`${t.status} = 'pending_trigger'`),
    // An account's orders that are not terminal, for its risk usage (db/queries/controls.ts
    // `orderFacts`, whose conditions are the same `unfinishedOrder`).
    index('orders_account_open_idx').on(t.accountId, t.symbol, t.side).where(unfinishedOrder(t.status)),
  ],
);

export const trades = pgTable(
  'trades',
  {
    id: uuid('id').primaryKey(),
    symbol: text('symbol')
      .notNull()
      .references(() => instruments.symbol),
    buyOrderId: uuid('buy_order_id')
      .notNull()
      .references(() => orders.id),
    sellOrderId: uuid('sell_order_id')
      .notNull()
      .references(() => orders.id),
    /**
     * The two orders' accounts, copied from the orders by the settlement that writes the trade (no
     * foreign key of their own: the orders' rows hold theirs), so that an account's trades are found
     * without its orders.
     */
    buyAccountId: uuid('buy_account_id').notNull(),
    sellAccountId: uuid('sell_account_id').notNull(),
    /** The resting order's id: it set the price. */
    makerOrderId: uuid('maker_order_id').notNull(),
    price: big('price').notNull(),
    quantity: big('quantity').notNull(),
    executedAt: ts('executed_at').notNull().defaultNow(),
  },
  (t) => [
    index('trades_symbol_idx').on(t.symbol, t.executedAt),
    index('trades_buy_idx').on(t.buyOrderId),
    index('trades_sell_idx').on(t.sellOrderId),
    // An account's trades on each side in the order of its executions' pages (scanned backward: newest
    // first, with the pages' cursor as the range's bound) and since a time (db/queries/executions.ts,
    // controls.ts): one index range each, never a sort.
    index('trades_buy_account_idx').on(t.buyAccountId, t.executedAt, t.id, t.buyOrderId),
    index('trades_sell_account_idx').on(t.sellAccountId, t.executedAt, t.id, t.sellOrderId),
  ],
);

/** Sequence state for a matching shard (book priority counter), advanced in settlement transactions. */
export const matchingSequences = pgTable('matching_sequences', {
  symbol: text('symbol')
    .primaryKey()
    .references(() => instruments.symbol),
  lastSeq: big('last_seq')
    .notNull()
    .default(sql`0`),
  /**
   * The book's last trade price (cents), written with the operation that traded: a rebuilt book knows
   * which pending stops a new trade or a new stop meets. Null before the first trade.
   */
  lastPrice: big('last_price'),
});

// ---- outbox --------------------------------------------------------------------------------------

/** Per-account event sequence: `outbox.account_seq` is `last_seq + 1` taken in the writing transaction. */
export const accountSequences = pgTable('account_sequences', {
  accountId: uuid('account_id')
    .primaryKey()
    .references(() => accounts.id),
  lastSeq: big('last_seq')
    .notNull()
    .default(sql`0`),
});

export const outbox = pgTable(
  'outbox',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    /** Null for public events (market data). */
    accountId: uuid('account_id').references(() => accounts.id),
    accountSeq: big('account_seq'),
    /**
     * The relay's claim order: taken by every insert from `outbox_pos_seq` (an account's rows while their
     * transaction holds its sequence row, so in account_seq order). Null on rows done before migration 0016.
     */
    pos: big('pos').default(sql`nextval('outbox_pos_seq')`),
    /** order.accepted, execution.report, market.update, email.* */
    eventType: text('event_type').notNull(),
    payload: jsonb('payload').notNull(),
    status: text('status', { enum: ['pending', 'done', 'dead'] })
      .notNull()
      .default('pending'),
    /** Failed deliveries so far (counted when a failed row is put back). */
    attempts: integer('attempts').notNull().default(0),
    /** A failed row is not claimed again before this (its backoff). */
    retryAt: ts('retry_at'),
    /** An attempt published it before a later step failed: its retries do not publish it again. */
    published: boolean('published').notNull().default(false),
    lastError: text('last_error'),
    createdAt: ts('created_at').notNull().defaultNow(),
    processedAt: ts('processed_at'),
  },
  (t) => [
    // In the relay's claim order, which scans it as an index scan (claim_outbox, migrations 0010 and 0016).
    index('outbox_pending_idx')
      .on(t.pos)
      .where(sql`${t.status} = 'pending'`),
    uniqueIndex('outbox_account_seq_key').on(t.accountId, t.accountSeq),
    // The done account events, oldest first: the relay deletes those past the retention (prune_outbox,
    // migration 0020; the done market data it finds through outbox_account_seq_key's null account).
    index('outbox_done_idx')
      .on(t.createdAt)
      .where(sql`${t.status} = 'done' AND ${t.accountId} IS NOT NULL`),
    // The dead rows by type, which the active relay counts for the OutboxDeadLetters alert (migration 0023).
    index('outbox_dead_idx')
      .on(t.eventType)
      .where(sql`${t.status} = 'dead'`),
  ],
);

// ---- operator controls (docs/adr/0022-risk-controls-through-temporal.md) -------------------------

/**
 * Kill switches in force: one row per engaged scope, '*' (the whole market) or a symbol. Written only by
 * the MarketControls workflow's activities; read by validation and, under the control lock, by the shard.
 */
export const killSwitches = pgTable('kill_switches', {
  scope: text('scope').primaryKey(),
  engagedAt: ts('engaged_at').notNull(),
  engagedBy: text('engaged_by').notNull(),
  reason: text('reason').notNull(),
});

/** Per-account pre-trade limits; null = no limit. Notionals in cents, positions in shares. */
export const riskLimits = pgTable('risk_limits', {
  accountId: uuid('account_id')
    .primaryKey()
    .references(() => accounts.id),
  maxOrderNotional: big('max_order_notional'),
  maxOpenOrders: integer('max_open_orders'),
  maxPosition: big('max_position'),
  maxDailyNotional: big('max_daily_notional'),
  updatedAt: ts('updated_at').notNull(),
});

/** Every operator action: who, when, what, why, and what it did (orders cancelled). */
export const adminAudit = pgTable(
  'admin_audit',
  {
    id: bigserial('id', { mode: 'bigint' }).primaryKey(),
    /** The control workflow's id for the action: a retried activity writes it once. */
    actionId: text('action_id').notNull(),
    at: ts('at').notNull(),
    operatorId: uuid('operator_id').notNull(),
    operatorEmail: text('operator_email').notNull(),
    action: text('action').notNull(),
    /** The symbol, account or '*' the action applies to. */
    target: text('target').notNull(),
    reason: text('reason').notNull(),
    params: jsonb('params').notNull(),
    /** What the action did (cancelled and failed order counts), once known. */
    outcome: jsonb('outcome'),
    /** The control workflow run that applied it (its history in the Temporal Web UI). */
    workflowId: text('workflow_id').notNull(),
    runId: text('run_id').notNull(),
  },
  (t) => [uniqueIndex('admin_audit_action_key').on(t.actionId), index('admin_audit_at_idx').on(t.at)],
);

// ---- order timeline -------------------------------------------------------------------------------

/**
 * The customer-visible life of an order (GET /api/v1/orders/{id}/timeline), written in the same
 * statements as the changes it records. `key` makes each event once per order (retries write nothing).
 */
export const orderEvents = pgTable(
  'order_events',
  {
    id: bigserial('id', { mode: 'bigint' }).primaryKey(),
    orderId: uuid('order_id').notNull(),
    key: text('key').notNull(),
    at: ts('at').notNull(),
    type: text('type').notNull(),
    details: jsonb('details').notNull(),
  },
  (t) => [uniqueIndex('order_events_key').on(t.orderId, t.key)],
);
