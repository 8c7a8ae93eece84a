import type { IRouter } from 'express';
import { renderPage } from '../render.js';
import { MAGNET_FIELD, TORRENT_FIELD } from '../upload.js';
import { formatBytes } from '../view-model.js';

export interface HomeView {
  torrentField: string;
  magnetField: string;
  maxUpload: string;
  /** Whether trackers on private networks may be contacted (said on the page, since it matters). */
  allowPrivateTrackers: boolean;
}

/** GET /: the upload form. A plain multipart form, so it works without JavaScript. */
export function homeRoutes(router: IRouter, options: { maxUploadBytes: number; allowPrivateTrackers: boolean }): IRouter {
  const view: HomeView = {
    torrentField: TORRENT_FIELD,
    magnetField: MAGNET_FIELD,
    maxUpload: formatBytes(options.maxUploadBytes).text,
    allowPrivateTrackers: options.allowPrivateTrackers,
  };
  router.get('/', (_req, res) => {
    renderPage(res, 'index', 'Tracker stats for any torrent', view);
  });
  return router;
}
