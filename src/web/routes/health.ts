import type { IRouter } from 'express';

/** Liveness for the reverse proxy and the container HEALTHCHECK: the process serves requests. */
export function healthRoutes(router: IRouter): IRouter {
  router.get('/healthz', (_req, res) => {
    res.set('Cache-Control', 'no-store');
    res.json({ status: 'ok' });
  });
  return router;
}
