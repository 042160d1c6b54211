import { describe, expect, it } from 'vitest';
import { deliveryFindings, fillOfMail, formatFinding } from './audit.js';

const f1 = '11111111-1111-4111-8111-111111111111';
const f2 = '22222222-2222-4222-8222-222222222222';
const buy = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa';
const sell = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb';
const acct = 'cccccccc-cccc-4ccc-8ccc-cccccccccccc';

describe('deliveryFindings', () => {
  const expected = [
    { fillId: f1, orderId: buy, accountId: acct },
    { fillId: f1, orderId: sell, accountId: acct },
    { fillId: f2, orderId: buy, accountId: acct },
  ];

  it('finds nothing when each expected delivery arrived once, in any order', () => {
    expect(deliveryFindings('feed', expected, [expected[2]!, expected[0]!, expected[1]!])).toEqual([]);
  });

  it('reports missing, duplicated and unexpected deliveries', () => {
    const seen = [expected[0]!, expected[0]!, expected[1]!, { fillId: f2, orderId: sell }];
    expect(deliveryFindings('feed', expected, seen).map(formatFinding)).toEqual([
      `feed_duplicated: fill ${f1} order ${buy}: delivered 2 times`,
      `feed_missing: fill ${f2} order ${buy}: never delivered to account ${acct}`,
      `feed_unexpected: fill ${f2} order ${sell}: delivered 1 times, not a fill of these accounts`,
    ]);
  });

  it('takes a mail delivered twice (a relay killed before marking it sent) as delivered', () => {
    const seen = [expected[0]!, expected[0]!, expected[1]!, { fillId: f2, orderId: sell }];
    expect(deliveryFindings('mail', expected, seen).map(formatFinding)).toEqual([
      `mail_missing: fill ${f2} order ${buy}: never delivered to account ${acct}`,
      `mail_unexpected: fill ${f2} order ${sell}: delivered 1 times, not a fill of these accounts`,
    ]);
  });
});

describe('fillOfMail', () => {
  it('reads the fill and order ids from the confirmation Message-ID', () => {
    expect(fillOfMail(`<fill-${f1}-${buy}@brokerx.local>`)).toEqual({ fillId: f1, orderId: buy });
    expect(fillOfMail('<something-else@example.com>')).toBeUndefined();
  });
});
