/**
 * Operator accounts: made by `npm run operator:create` (scripts/operator-create.ts), never over HTTP. An
 * operator is a verified user with the `operator` role: it logs in like any client (password, then the
 * emailed or app code) and its access tokens carry `role: operator`, which /api/v1/admin requires
 * (requireOperator). Like every user it has a cash account of its own, unfunded.
 */
import type { Db } from '../../db/client.js';
import { activateUser, findUserByEmail, insertUser, setUserRole } from '../../db/queries/users.js';
import { NewPassword, weakPasswordReason } from './password-policy.js';
import { randomToken } from './crypto.js';
import { hashPassword } from './passwords.js';
import { newTotpSecret } from './totp.js';

export interface NewOperator {
  email: string;
  /** Absent: a random one is generated and returned (shown once by the command). */
  password?: string;
  firstName?: string;
  lastName?: string;
}

export type CreateOperatorResult =
  { ok: true; userId: string; accountId: string; password?: string } | { ok: false; error: string };

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export async function createOperator(db: Db, p: NewOperator, now: Date): Promise<CreateOperatorResult> {
  const email = p.email.trim();
  if (!EMAIL.test(email)) return { ok: false, error: `not an email address: ${p.email}` };
  const generated = p.password === undefined ? randomToken(18) : undefined;
  const password = p.password ?? generated!;
  const valid = NewPassword.safeParse(password);
  if (!valid.success)
    return { ok: false, error: `password ${valid.error.issues[0]?.message ?? 'is invalid'}` };
  const weak = weakPasswordReason(password, { email });
  if (weak) return { ok: false, error: `password ${weak}` };
  const passwordHash = await hashPassword(password);
  return db.transaction(async (tx) => {
    if (await findUserByEmail(tx, email)) return { ok: false as const, error: `${email} already has a user` };
    const user = await insertUser(tx, {
      email,
      passwordHash,
      firstName: p.firstName ?? 'Operator',
      lastName: p.lastName ?? email.split('@')[0]!,
      totpSecret: newTotpSecret(),
      createdAt: now,
    });
    if (!user) return { ok: false as const, error: `${email} already has a user` };
    const { accountId } = await activateUser(tx, user.id, now);
    await setUserRole(tx, user.id, 'operator');
    return { ok: true as const, userId: user.id, accountId, password: generated };
  });
}
