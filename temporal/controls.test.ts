import { describe, expect, it } from 'vitest';
import { cancelScopeOf, controlRequestError, type ControlAction, type ControlRequest } from './controls.js';

const operator = { userId: '00000000-0000-4000-8000-000000000001', email: 'ops@example.test' };
const request = (action: ControlAction, reason = 'why'): ControlRequest => ({ action, operator, reason });
const account = '00000000-0000-4000-8000-0000000000aa';
const noLimits = {
  max_order_notional: null,
  max_open_orders: null,
  max_position: null,
  max_daily_notional: null,
};

describe('control requests (the MarketControls update validator)', () => {
  it('accepts well-formed actions of every kind', () => {
    const actions: ControlAction[] = [
      { kind: 'halt', symbol: 'AAPL', cancelResting: false },
      { kind: 'resume', symbol: 'BRK.B' },
      { kind: 'freeze', accountId: account },
      { kind: 'unfreeze', accountId: account },
      { kind: 'engage_kill_switch', scope: '*' },
      { kind: 'release_kill_switch', scope: 'MSFT' },
      { kind: 'set_limits', accountId: account, limits: { ...noLimits, max_open_orders: '0' } },
    ];
    for (const a of actions) expect([a.kind, controlRequestError(request(a))]).toEqual([a.kind, undefined]);
  });

  it('refuses a missing reason, a bad symbol, account or scope, and a limit that is not an integer', () => {
    expect(controlRequestError(request({ kind: 'resume', symbol: 'AAPL' }, '  '))).toBe('reason is required');
    expect(controlRequestError(request({ kind: 'resume', symbol: 'aapl' }))).toMatch(/not a symbol/);
    expect(controlRequestError(request({ kind: 'freeze', accountId: 'x' }))).toMatch(/not an account id/);
    expect(controlRequestError(request({ kind: 'engage_kill_switch', scope: '**' }))).toMatch(/not a scope/);
    expect(
      controlRequestError(
        request({ kind: 'set_limits', accountId: account, limits: { ...noLimits, max_position: '-1' } }),
      ),
    ).toBe('max_position must be a non-negative integer or null');
    expect(
      controlRequestError({
        ...request({ kind: 'resume', symbol: 'AAPL' }),
        operator: { userId: '', email: '' },
      }),
    ).toBe('operator is required');
  });

  it('cancels: a halt only when asked, a freeze the account, a kill switch its symbol or the market', () => {
    expect(cancelScopeOf({ kind: 'halt', symbol: 'AAPL', cancelResting: false })).toBeUndefined();
    expect(cancelScopeOf({ kind: 'halt', symbol: 'AAPL', cancelResting: true })).toEqual({ symbol: 'AAPL' });
    expect(cancelScopeOf({ kind: 'freeze', accountId: account })).toEqual({ accountId: account });
    expect(cancelScopeOf({ kind: 'engage_kill_switch', scope: '*' })).toEqual({});
    expect(cancelScopeOf({ kind: 'engage_kill_switch', scope: 'TSLA' })).toEqual({ symbol: 'TSLA' });
    expect(cancelScopeOf({ kind: 'unfreeze', accountId: account })).toBeUndefined();
    expect(cancelScopeOf({ kind: 'release_kill_switch', scope: '*' })).toBeUndefined();
  });
});
