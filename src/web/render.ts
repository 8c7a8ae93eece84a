import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ServerResponse } from 'node:http';
import type { Response } from 'express';
import ejs from 'ejs';

/** The pages there are; each is views/<name>.ejs, rendered inside views/layout.ejs. */
export const VIEW_NAMES = ['index', 'result', 'error'] as const;
export type ViewName = (typeof VIEW_NAMES)[number];

/** What the layout needs besides the rendered view. */
export interface LayoutOptions {
  title: string;
  /** Reload the page after this many seconds (the no-JavaScript fallback; app.js does it otherwise). */
  refreshSeconds?: number | null;
}

type Template = (locals: { page: object }) => string;

/** What `<%=` escapes, to exactly the entities EJS's own escapeXML writes. */
const HTML_ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&#34;', "'": '&#39;' };
const HTML_SPECIAL = /[&<>'"]/;
const HTML_SPECIAL_ALL = /[&<>'"]/g;

/**
 * EJS's escapeXML, output for output (test/web/security.test.ts checks), but returning the text
 * as is when there is nothing to escape, which is nearly every value on a page.
 */
export function escapeHtml(value: unknown): string {
  if (value === undefined || value === null) return '';
  const text = String(value);
  return HTML_SPECIAL.test(text) ? text.replace(HTML_SPECIAL_ALL, (ch) => HTML_ESCAPES[ch] ?? ch) : text;
}

/** An EJS tag (`<% %>`, `<%= %>`, `<%- %>`, `<%# %>`, …); `<%%` is a literal `<%` in the text. */
const EJS_TAG = /<%(?!%)[\s\S]*?%>/g;
const ABOVE_ASCII = /[^\u0000-\u007F]/gu;

/**
 * `source` with every character above U+007F in its literal text written as a character reference
 * (`—` → `&#8212;`, `·` → `&#183;`), which the browser shows as the same character. A page that is
 * all ASCII is copied to the socket on Node's fastest path: one `—` in a template would make every
 * page a two-byte string (about 20 µs more per result page, bench/server.ts), and even a `·` halves
 * the speed of encoding the page to UTF-8 (7.2 µs against 3.7 µs for an 11.7 KB result page). Only
 * the text between tags is rewritten (inside a tag it is JavaScript), and the templates hold no
 * inline script or style (the CSP forbids them), the only places where a character reference
 * would not be decoded. Torrent-supplied text is left as it is.
 */
export function asciiText(source: string): string {
  const toReferences = (text: string) => text.replace(ABOVE_ASCII, (ch) => `&#${ch.codePointAt(0)};`);
  let out = '';
  let textStart = 0;
  for (const tag of source.matchAll(EJS_TAG)) {
    out += toReferences(source.slice(textStart, tag.index)) + tag[0];
    textStart = tag.index + tag[0].length;
  }
  return out + toReferences(source.slice(textStart));
}

/**
 * The EJS templates, compiled once when the app is built: a broken template stops start-up instead
 * of the first visitor, and a request never reaches the template engine's options. Templates get
 * exactly one local, `page`, built by our own code (view-model.ts) — never `req.query`/`req.body`
 * (CVE-2022-29078 class: EJS reads settings such as `outputFunctionName` from its options).
 */
export class Templates {
  readonly #layout: Template;
  readonly #views: ReadonlyMap<ViewName, Template>;

  constructor(viewsDir: string) {
    const sources = new Map<string, string>();
    const sourceOf = (filename: string): string => {
      let source = sources.get(filename);
      if (source === undefined) {
        source = asciiText(readFileSync(filename, 'utf8'));
        sources.set(filename, source);
      }
      return source;
    };
    const compile = (name: string): Template => {
      const filename = join(viewsDir, `${name}.ejs`);
      return ejs.compile(sourceOf(filename), {
        filename,
        // Strict mode (no `with`): a template sees `page` and nothing else it was not given.
        strict: true, destructuredLocals: ['page'], escape: escapeHtml,
        // A partial (`include`) is compiled once, at its first use, and kept in EJS's cache by file
        // name: without `cache`, EJS reads and compiles it again on every page it is part of.
        cache: true,
        includer: (_path, resolved) => ({ template: sourceOf(resolved) }),
      }) as Template;
    };
    this.#layout = compile('layout');
    this.#views = new Map(VIEW_NAMES.map((name) => [name, compile(name)]));
  }

  /** The full HTML document of a page. */
  render(view: ViewName, layout: LayoutOptions, page: object): string {
    const template = this.#views.get(view);
    if (!template) throw new Error(`no template ${view}`);
    const body = template({ page });
    return this.#layout({ page: { title: layout.title, body, view, refreshSeconds: layout.refreshSeconds ?? null } });
  }
}

/** Send a page. Template failures are thrown to the caller (express routes them to the error handler). */
export function renderPage(res: Response, view: ViewName, layout: LayoutOptions | string, page: object): void {
  const templates = res.app.locals.templates as Templates | undefined;
  if (!templates) throw new Error('the app has no templates (createApp sets app.locals.templates)');
  const options = typeof layout === 'string' ? { title: layout } : layout;
  sendText(res, HTML_TYPE, templates.render(view, options, page));
}

const HTML_TYPE = 'text/html; charset=utf-8';
const JSON_TYPE = 'application/json; charset=utf-8';

/** `res.json(value)` for an answer of ours (the app sends no ETag, so there is no 304 to work out). */
export function sendJson(res: ServerResponse, value: unknown): void {
  sendText(res, JSON_TYPE, JSON.stringify(value));
}

/**
 * A complete text answer. What express's `res.send` does for it, minus what it does not need:
 * express copies any body of 1000 characters or more into a Buffer first, while a string goes out
 * in one write together with the headers. HEAD is handled by Node (headers only).
 */
export function sendText(res: ServerResponse, contentType: string, body: string): void {
  res.setHeader('Content-Type', contentType);
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(body);
}
