/**
 * devstack/: the local load-balancer topology of `npm run start:lb` (three api instances behind nginx) and
 * the temporary nginx prefix it runs in, also used by the compose test's `nginx -t` check.
 */
import { copyFileSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/** The api instances behind the local nginx (ops/nginx/upstream-servers.local.conf lists the same). */
export const API_INSTANCES = [
  { id: 'api-1', port: 3001 },
  { id: 'api-2', port: 3002 },
  { id: 'api-3', port: 3003 },
] as const;

/** A temporary nginx prefix holding nginx.conf and the local upstream servers as upstream-servers.conf. */
export function prepareNginxPrefix(): { dir: string; conf: string; args: (extra?: string[]) => string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'brokerx-lb-'));
  mkdirSync(join(dir, 'logs')); // nginx opens <prefix>/logs/error.log before it reads the config
  const conf = join(dir, 'nginx.conf');
  copyFileSync(join(root, 'ops/nginx/nginx.conf'), conf);
  copyFileSync(join(root, 'ops/nginx/upstream-servers.local.conf'), join(dir, 'upstream-servers.conf'));
  const args = (extra: string[] = []) => [
    ...extra,
    '-p',
    `${dir}/`,
    '-c',
    conf,
    '-g',
    `daemon off; pid ${join(dir, 'nginx.pid')};`,
  ];
  return { dir, conf, args };
}
