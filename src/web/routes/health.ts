import type { IRouter } from 'express';
import type { RouteMethods } from './methods.js';

/** The liveness address and its methods (HEAD: express answers it with the GET route). */
export const HEALTH_ROUTE: RouteMethods = { path: '/healthz', methods: ['GET', 'HEAD'] };

/** Liveness for the reverse proxy and the container HEALTHCHECK: the process serves requests. */
export function healthRoutes(router: IRouter): IRouter {
  router.get(HEALTH_ROUTE.path, (_req, res) => {
    res.set('Cache-Control', 'no-store');
    res.json({ status: 'ok' });
  });
  return router;
}
