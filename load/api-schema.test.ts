/** The committed API types are what the current OpenAPI document generates. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { generatedSchema, SCHEMA_FILE } from '../scripts/openapi.js';

describe('generated API types', () => {
  it('load/api-schema.ts is fresh (else: npm run openapi:generate, and commit it)', async () => {
    const fresh = await generatedSchema();
    const committed = readFileSync(SCHEMA_FILE, 'utf8');
    expect(
      committed === fresh,
      'load/api-schema.ts is stale: run `npm run openapi:generate` and commit it',
    ).toBe(true);
  });
});
