import { describe, expect, it } from 'vitest';
import { localServices } from '../../devstack/cluster.js';
import { loadCompose } from '../../devstack/compose.js';
import { componentOf } from './cluster-stack.js';

describe('the cluster benchmark’s CPU columns', () => {
  it('give every process of the order path in docker-compose.yml its component, and nothing else one', () => {
    const byComponent = new Map<string, string[]>();
    for (const [name] of localServices(loadCompose())) {
      const c = componentOf(name);
      if (c) byComponent.set(c, [...(byComponent.get(c) ?? []), name]);
    }
    expect(Object.fromEntries(byComponent)).toEqual({
      temporal: ['temporal'],
      mailpit: ['mailpit'],
      api: ['api-1', 'api-2', 'api-3'],
      trading: ['worker-trading', 'worker-trading-2'],
      matching: ['matching-0', 'matching-1', 'matching-standby'],
      outbox: ['worker-outbox', 'worker-outbox-2'],
      nginx: ['nginx'],
    });
  });
});
