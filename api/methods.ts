/**
 * 405 for a known path with an unknown method: which methods the app serves at a path, read from its
 * routes (middleware, registered for every method, is not a route). `HEAD` is served wherever `GET` is
 * (Hono answers it with the GET handler), `OPTIONS` by the CORS middleware for preflights only.
 */
import { ApiError } from './problem.js';

interface Route {
  method: string;
  path: string;
}

const pattern = (path: string) =>
  new RegExp(
    `^${path
      .split('/')
      .map((part) =>
        part.startsWith(':') ? '[^/]+' : part === '*' ? '.*' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
      )
      .join('/')}$`,
  );

/** A function from a path to the methods served there (empty: an unknown path). */
export function methodsByPath(routes: readonly Route[]): (path: string) => string[] {
  const known = routes
    .filter((r) => r.method !== 'ALL' && !r.path.endsWith('*'))
    .map((r) => ({ method: r.method, match: pattern(r.path) }));
  return (path) => {
    const methods = new Set(known.filter((r) => r.match.test(path)).map((r) => r.method));
    if (methods.has('GET')) methods.add('HEAD');
    return [...methods].sort();
  };
}

/** The 405 problem, with `Allow`. */
export function methodNotAllowed(method: string, path: string, allowed: string[]): ApiError {
  return new ApiError(
    'method_not_allowed',
    `${method} is not allowed on ${path}; allowed: ${allowed.join(', ')}`,
    undefined,
    {
      allow: allowed.join(', '),
    },
  );
}
