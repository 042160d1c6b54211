/**
 * A socket's message budget (`/ws` and `/cable` alike): `perSecond` messages on average, with bursts
 * of up to `burst`. A token bucket, refilled on use: no timer per socket.
 */
export class MessageRate {
  private tokens: number;
  private refilledAt = performance.now();

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
  ) {
    this.tokens = burst;
  }

  /** Count one message; false when it is over the budget. */
  take(): boolean {
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.refilledAt) / 1000) * this.perSecond);
    this.refilledAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
