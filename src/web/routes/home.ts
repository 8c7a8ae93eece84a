import type { IRouter } from 'express';
import { renderPage } from '../render.js';
import { type UploadFormView, uploadFormView } from '../upload.js';
import type { RouteMethods } from './methods.js';

/** The home page's address and methods (HEAD: express answers it with the GET route). */
export const HOME_ROUTE: RouteMethods = { path: '/', methods: ['GET', 'HEAD'] };

export interface HomeView {
  form: UploadFormView;
  /** Whether trackers on private networks may be contacted (said on the page, since it matters). */
  allowPrivateTrackers: boolean;
}

/** GET /: the upload form. A plain multipart form, so it works without JavaScript. */
export function homeRoutes(router: IRouter, options: { maxUploadBytes: number; allowPrivateTrackers: boolean }): IRouter {
  const view: HomeView = {
    form: uploadFormView(options.maxUploadBytes),
    allowPrivateTrackers: options.allowPrivateTrackers,
  };
  router.get(HOME_ROUTE.path, (_req, res) => {
    renderPage(res, 'index', 'Tracker stats for any torrent', view);
  });
  return router;
}
