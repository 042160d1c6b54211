/** The account's events as they arrive over /ws (each once, in seq order, also across reconnects). */
import type { AccountEvent } from '../feed.js';
import { price } from '../money.js';
import type { Trading } from '../store.js';
import { Panel } from '../ui.js';

function text(e: AccountEvent): string {
  const side = e.side ?? '';
  if (e.type === 'execution') {
    const what = `${side} ${e.symbol ?? ''}`;
    switch (e.exec_type) {
      case 'fill':
      case 'partial_fill':
        return `${e.exec_type === 'fill' ? 'Filled' : 'Partly filled'}: ${what} ${e.fill_qty ?? 0} @ ${price(e.fill_price)} (${e.leaves_qty ?? 0} left)`;
      case 'new':
        return e.status === 'pending_trigger'
          ? `Waiting for trigger: ${what} ${e.quantity ?? 0}, stop ${price(e.stop_price)}`
          : `Working: ${what} ${e.quantity ?? 0} @ ${price(e.price)}`;
      case 'triggered':
        return `Triggered: ${what} ${e.quantity ?? 0}, stop ${price(e.stop_price)} reached`;
      case 'replaced':
        return `Replaced: ${what} now ${e.quantity ?? 0}${e.price === null ? '' : ` @ ${price(e.price)}`}${e.status === 'pending_trigger' ? `, stop ${price(e.stop_price)}` : ''}`;
      case 'canceled':
        return `Cancelled: ${what}`;
      case 'expired':
        return `Expired: ${what}`;
      case 'rejected':
        return `Rejected: ${what} (${e.reject_reason ?? 'no reason given'})`;
      default:
        return `${e.exec_type ?? 'execution'}: ${what}`;
    }
  }
  if (e.type === 'order_accepted') return `Accepted: ${side} ${e.quantity ?? 0} ${e.symbol ?? ''}`;
  return e.event_type ?? e.type;
}

export function ActivityPanel({ store }: { store: Trading }) {
  return (
    <Panel title="Live activity" id="activity">
      <ol class="activity" aria-live="polite" aria-label="Account events" tabIndex={0} data-testid="activity">
        {store.activity.length === 0 && (
          <li class="muted">Nothing yet: fills and order changes appear here as they happen.</li>
        )}
        {store.activity.map((e) => (
          <li key={e.seq} data-seq={e.seq} data-type={e.type} data-exec-type={e.exec_type}>
            <span class="seq">#{e.seq}</span> {text(e)}
          </li>
        ))}
      </ol>
    </Panel>
  );
}
