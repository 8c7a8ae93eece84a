import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import helmet, { type HelmetOptions } from 'helmet';

/**
 * The Content-Security-Policy of issue #4, directive for directive: no inline script or style, no
 * third-party anything, forms post only to us, no framing.
 */
export const CONTENT_SECURITY_POLICY: Readonly<Record<string, readonly string[]>> = Object.freeze({
  'default-src': ["'none'"],
  'script-src': ["'self'"],
  'style-src': ["'self'"],
  'img-src': ["'self'", 'data:'],
  'form-action': ["'self'"],
  'frame-ancestors': ["'none'"],
  'base-uri': ["'none'"],
});

/** helmet's settings for this app: its defaults, our CSP, and two stricter choices. */
export const HELMET_OPTIONS: Readonly<HelmetOptions> = Object.freeze({
  contentSecurityPolicy: {
    useDefaults: false,
    directives: Object.fromEntries(Object.entries(CONTENT_SECURITY_POLICY).map(([k, v]) => [k, [...v]])),
  },
  // The page links to trackers' and web seeds' sites: tell them nothing about where from.
  referrerPolicy: { policy: 'no-referrer' },
  // Same as frame-ancestors 'none', for browsers that predate CSP level 2.
  xFrameOptions: { action: 'deny' },
} satisfies HelmetOptions);

/** What a helmet middleware does to a response: headers set, and headers removed. */
export interface HeaderEffects {
  set: readonly (readonly [name: string, value: string])[];
  removed: readonly string[];
}

/**
 * Run a helmet middleware once against a recording response. With static options (no per-request
 * CSP nonce functions) every response gets exactly these headers, so they can be worked out at
 * start-up. Throws when the middleware reads the request or does anything else with the response:
 * then its headers would not be the same for every request.
 */
export function recordHeaderEffects(middleware: (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void): HeaderEffects {
  const set = new Map<string, readonly [string, string]>();
  const removed: string[] = [];
  const response = {
    setHeader(name: string, value: string | number | readonly string[]) {
      if (typeof value !== 'string') throw new Error(`header ${name} is not a plain string`);
      set.set(name.toLowerCase(), [name, value]);
      return response;
    },
    removeHeader(name: string) {
      set.delete(name.toLowerCase());
      removed.push(name);
    },
  };
  const request = new Proxy(
    {},
    {
      get(_target, property) {
        throw new Error(`the header middleware read the request (${String(property)}): its headers may differ per request`);
      },
    },
  );
  let finished = false;
  middleware(request as IncomingMessage, response as unknown as ServerResponse, (err?: unknown) => {
    if (err) throw err;
    finished = true;
  });
  if (!finished) throw new Error('the header middleware did not call next() synchronously');
  return { set: [...set.values()], removed };
}

/**
 * helmet's headers with `options`, set on every response. helmet's own middleware chain runs a
 * dozen functions per request to set the same constant headers; here its effect is recorded once
 * and replayed, header for header (test/web/security.test.ts compares both).
 */
export function securityHeaders(options: Readonly<HelmetOptions> = HELMET_OPTIONS): RequestHandler {
  const { set, removed } = recordHeaderEffects(helmet(options as HelmetOptions));
  return (_req: Request, res: Response, next: NextFunction) => {
    for (const name of removed) res.removeHeader(name);
    for (const [name, value] of set) res.setHeader(name, value);
    next();
  };
}
