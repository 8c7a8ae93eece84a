import { readFileSync } from 'node:fs';
import { join } from 'node:path';
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
    const compile = (name: string): Template => {
      const filename = join(viewsDir, `${name}.ejs`);
      // Strict mode (no `with`): a template sees `page` and nothing else it was not given.
      return ejs.compile(readFileSync(filename, 'utf8'), { filename, strict: true, destructuredLocals: ['page'] }) as Template;
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
  res.type('html').send(templates.render(view, options, page));
}
