import { readdirSync } from 'node:fs';
import { sep } from 'node:path';
import type { IRouter, NextFunction, Request, Response } from 'express';
import { MethodNotAllowedError } from '../errors.js';

/**
 * Methods on addresses that exist. express answers a method no route takes with the app's 404,
 * which tells a client the address is wrong when only the method is: here PUT/DELETE/PATCH/… on a
 * page or a static file is a 405 with `Allow` (through the one error handler, as a page or JSON),
 * and OPTIONS is a 204 with the same `Allow`. Addresses that do not exist stay 404.
 *
 * OPTIONS: express's own automatic answer is 200 with `Allow` and the method list again as a
 * text/plain body; this app's catch-all 404 would pre-empt it, so it is answered here, as the
 * same `Allow` without the body (204 No Content). No CORS headers: the app is not meant to be
 * called from other sites' pages, so a browser preflight from one fails as it should.
 *
 * Mounted after every route and before the 404: requests a route answered never get here, so the
 * pages' own path costs nothing.
 */

export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'OPTIONS';

/** An address and the methods its routes take (OPTIONS is added here, for every address). */
export interface RouteMethods {
  path: string;
  methods: readonly HttpMethod[];
}

/** Methods of every file under the static prefix (express.static serves GET and HEAD only). */
export const STATIC_FILE_METHODS: readonly HttpMethod[] = ['GET', 'HEAD'];

export interface MethodTable {
  routes: readonly RouteMethods[];
  /** URL prefix of the static files, e.g. `/static`. */
  staticPrefix: string;
  /** The static files that exist, as paths under the prefix (`style.css`). */
  staticFiles: ReadonlySet<string>;
}

/**
 * A route path as express matches it by default: letters in any case, one trailing slash allowed
 * (its router's `caseSensitive` and `strict` are off), so `/Scrape/` is the address `/scrape`.
 */
export function routeKey(path: string): string {
  const lower = path.toLowerCase();
  return lower.length > 1 && lower.endsWith('/') ? lower.slice(0, -1) : lower;
}

/**
 * The files under `dir` as URL paths relative to it, read once when the app is built. Dotfiles are
 * left out, as express.static (`dotfiles: 'ignore'`) leaves them out.
 */
export function staticFilesOf(dir: string): Set<string> {
  const files = new Set<string>();
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const parent = entry.parentPath.slice(dir.length).split(sep).filter((part) => part !== '');
    const parts = [...parent, entry.name];
    if (parts.some((part) => part.startsWith('.'))) continue;
    files.add(parts.join('/'));
  }
  return files;
}

/** The methods `path` takes, OPTIONS included, in a fixed order; null when no such address exists. */
export function allowedMethods(table: MethodTable, path: string): readonly string[] | null {
  const key = routeKey(path);
  const route = table.routes.find((r) => routeKey(r.path) === key);
  if (route) return withOptions(route.methods);
  const prefix = `${table.staticPrefix}/`;
  if (path.startsWith(prefix)) {
    let file: string;
    try {
      file = decodeURIComponent(path.slice(prefix.length));
    } catch {
      return null;
    }
    if (table.staticFiles.has(file)) return withOptions(STATIC_FILE_METHODS);
  }
  return null;
}

const METHOD_ORDER: readonly HttpMethod[] = ['GET', 'HEAD', 'POST', 'OPTIONS'];

function withOptions(methods: readonly HttpMethod[]): HttpMethod[] {
  const all = new Set<HttpMethod>([...methods, 'OPTIONS']);
  return METHOD_ORDER.filter((method) => all.has(method));
}

/** OPTIONS → 204 + Allow; a method the address does not take → 405 + Allow; else on to the 404. */
export function methodRoutes(router: IRouter, table: MethodTable): IRouter {
  router.use((req: Request, res: Response, next: NextFunction) => {
    const allow = allowedMethods(table, req.path);
    if (allow === null) {
      next();
      return;
    }
    if (req.method === 'OPTIONS') {
      res.status(204).set('Allow', allow.join(', ')).end();
      return;
    }
    // A method the address takes that still got here (a static file gone since start-up): 404.
    if (allow.includes(req.method)) {
      next();
      return;
    }
    next(new MethodNotAllowedError(req.method, allow));
  });
  return router;
}
