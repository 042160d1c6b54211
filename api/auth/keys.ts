/**
 * JWT signing keys, kept in `signing_keys` and cached per process.
 *
 * - One active key signs (the newest without `retired_at`); a rotation inserts a new key and retires the
 *   others in one transaction under an advisory lock, so several instances agree on one key.
 * - A retired key keeps verifying, and stays in /.well-known/jwks.json, for the access-token lifetime plus
 *   a grace that covers the cache period of other instances: nobody is logged out by a rotation.
 * - Private halves are stored as JWKs sealed with AES-256-GCM (key derived from SIGNING_KEY_SECRET, kid as
 *   additional data); public halves as plain JWKs.
 * - Keys rotate by themselves after SIGNING_KEY_ROTATION_DAYS, or on demand with `rotate()`.
 */
import {
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  type CryptoKey,
  type JWK,
} from 'jose';
import type { Db } from '../../db/client.js';
import {
  insertSigningKey,
  listSigningKeys,
  withSigningKeyLock,
  type SigningKeyRow,
} from '../../db/queries/users.js';
import type { Logger } from '../../lib/logger.js';
import { isSealedJwk, sealJwk, unsealJwk } from './crypto.js';
import { JWT_ALG } from './tokens.js';

/** How long a process trusts its cached key list before reading signing_keys again. */
export const KEY_CACHE_MS = 60_000;
/** An unknown kid triggers a reload at most this often (an attacker's random kids cost one query per period). */
const UNKNOWN_KID_RELOAD_MS = 5_000;
/** A retired key stays published this long beyond the access-token lifetime (other instances' caches, skew). */
export const KEY_PUBLISH_GRACE_SECONDS = 300;

export interface KeyStoreOptions {
  db: Db;
  secret: string;
  production: boolean;
  rotationDays: number;
  accessTokenTtlSeconds: number;
  now: () => Date;
  logger: Logger;
}

interface LoadedKey {
  kid: string;
  publicJwk: JWK;
  publicKey: CryptoKey;
  /** Undefined when the sealed private key cannot be opened (SIGNING_KEY_SECRET changed). */
  privateKey: CryptoKey | undefined;
  createdAt: Date;
  retiredAt: Date | null;
}

export class KeyStore {
  private keys = new Map<string, LoadedKey>();
  private loadedAt = -Infinity;
  private lastForcedReload = -Infinity;
  private loading: Promise<void> | undefined;

  constructor(private readonly opts: KeyStoreOptions) {
    if (opts.production && opts.secret.startsWith('dev-only-')) {
      throw new Error(
        'SIGNING_KEY_SECRET must be set in production (the built-in value is for development only)',
      );
    }
  }

  /** The key new tokens are signed with; creates or rotates one when needed. */
  async signingKey(): Promise<{ kid: string; privateKey: CryptoKey }> {
    await this.fresh();
    let active = this.activeKey();
    if (!active || this.rotationDue(active)) {
      await this.ensureActive();
      active = this.activeKey();
    }
    if (!active?.privateKey) throw new Error('no usable JWT signing key');
    return { kid: active.kid, privateKey: active.privateKey };
  }

  /** The public key for `kid`, if it is one of ours and still published. */
  async verificationKey(kid: string): Promise<CryptoKey | undefined> {
    await this.fresh();
    let key = this.keys.get(kid);
    if (!key && performance.now() - this.lastForcedReload > UNKNOWN_KID_RELOAD_MS) {
      this.lastForcedReload = performance.now();
      await this.reload();
      key = this.keys.get(kid);
    }
    return key && this.published(key) ? key.publicKey : undefined;
  }

  /** The public keys for /.well-known/jwks.json: the active key and every retired key still verifying. */
  async jwks(): Promise<JWK[]> {
    await this.fresh();
    if (!this.activeKey()) await this.signingKey();
    return [...this.keys.values()].filter((k) => this.published(k)).map((k) => k.publicJwk);
  }

  /** Start signing with a new key now; the previous ones keep verifying until their tokens expire. */
  async rotate(): Promise<string> {
    const kid = await withSigningKeyLock(this.opts.db, async (tx) => {
      const row = await newKeyRow(this.opts.secret, this.opts.now());
      await insertSigningKey(tx, row);
      return row.kid;
    });
    await this.reload();
    this.opts.logger.info('jwt signing key rotated', { kid });
    return kid;
  }

  private activeKey(): LoadedKey | undefined {
    let best: LoadedKey | undefined;
    for (const k of this.keys.values()) {
      if (k.retiredAt || !k.privateKey) continue;
      if (!best || k.createdAt > best.createdAt) best = k;
    }
    return best;
  }

  private rotationDue(key: LoadedKey): boolean {
    const days = this.opts.rotationDays;
    return days > 0 && this.opts.now().getTime() - key.createdAt.getTime() > days * 86_400_000;
  }

  private published(key: LoadedKey): boolean {
    if (!key.retiredAt) return true;
    const until =
      key.retiredAt.getTime() + (this.opts.accessTokenTtlSeconds + KEY_PUBLISH_GRACE_SECONDS) * 1000;
    return this.opts.now().getTime() < until;
  }

  /** Under the lock: create a key if none can sign, or rotate if the active one is due. */
  private async ensureActive(): Promise<void> {
    await withSigningKeyLock(this.opts.db, async (tx) => {
      const rows = await listSigningKeys(tx, this.opts.now());
      const candidates = rows.filter((r) => !r.retiredAt);
      let usable: LoadedKey | undefined;
      for (const row of candidates) {
        const loaded = await this.load(row);
        if (loaded.privateKey) {
          usable = loaded;
          break;
        }
      }
      if (usable && !this.rotationDue(usable)) return;
      const row = await newKeyRow(this.opts.secret, this.opts.now());
      await insertSigningKey(tx, row);
      this.opts.logger.info('jwt signing key created', {
        kid: row.kid,
        reason: usable ? 'rotation due' : 'no usable key',
      });
    });
    await this.reload();
  }

  /** Reload when the cache is old; concurrent callers share one query. */
  private async fresh(): Promise<void> {
    if (performance.now() - this.loadedAt < KEY_CACHE_MS) return;
    this.loading ??= this.query().finally(() => (this.loading = undefined));
    await this.loading;
  }

  /** Reload now, with a query that starts after the caller's own change (not a shared in-flight one). */
  private async reload(): Promise<void> {
    await this.loading?.catch(() => undefined);
    await this.query();
  }

  private async query(): Promise<void> {
    const since = new Date(
      this.opts.now().getTime() - (this.opts.accessTokenTtlSeconds + KEY_PUBLISH_GRACE_SECONDS) * 1000,
    );
    const rows = await listSigningKeys(this.opts.db, since);
    const next = new Map<string, LoadedKey>();
    for (const row of rows) next.set(row.kid, await this.load(row));
    this.keys = next;
    this.loadedAt = performance.now();
  }

  private async load(row: SigningKeyRow): Promise<LoadedKey> {
    const cached = this.keys.get(row.kid);
    if (cached) return { ...cached, retiredAt: row.retiredAt };
    const publicJwk = row.publicJwk as JWK;
    const publicKey = (await importJWK(publicJwk, row.alg)) as CryptoKey;
    let privateKey: CryptoKey | undefined;
    try {
      if (!isSealedJwk(row.privateJwk)) throw new Error('private key is not sealed');
      privateKey = (await importJWK(
        unsealJwk(this.opts.secret, row.kid, row.privateJwk) as JWK,
        row.alg,
      )) as CryptoKey;
    } catch (err) {
      this.opts.logger.error('cannot open JWT signing key (verification only)', {
        kid: row.kid,
        err: (err as Error).message,
      });
    }
    return {
      kid: row.kid,
      publicJwk,
      publicKey,
      privateKey,
      createdAt: row.createdAt,
      retiredAt: row.retiredAt,
    };
  }
}

async function newKeyRow(secret: string, now: Date) {
  const { publicKey, privateKey } = await generateKeyPair(JWT_ALG, { extractable: true });
  const pub = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(pub);
  const publicJwk: JWK = { ...pub, kid, alg: JWT_ALG, use: 'sig' };
  const privateJwk = sealJwk(secret, kid, { ...(await exportJWK(privateKey)), kid, alg: JWT_ALG });
  return { kid, alg: JWT_ALG, publicJwk, privateJwk, createdAt: now };
}
