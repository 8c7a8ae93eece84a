import { readFileSync } from 'node:fs';

/**
 * The app's name and version, read once from package.json at startup. `../package.json` is the same
 * file from src/version.ts (tsx, vitest) and from dist/version.js (the build, and the Docker image,
 * which copies package.json beside dist/): both sit one level below the project root.
 */
interface PackageIdentity {
  name: string;
  version: string;
}

function readPackageIdentity(): PackageIdentity {
  const manifestUrl = new URL('../package.json', import.meta.url);
  const manifest: unknown = JSON.parse(readFileSync(manifestUrl, 'utf8'));
  const { name, version } = (manifest ?? {}) as { name?: unknown; version?: unknown };
  if (typeof name !== 'string' || name === '' || typeof version !== 'string' || version === '') {
    throw new Error(`${manifestUrl.pathname} has no "name" and "version"`);
  }
  return { name, version };
}

const identity = readPackageIdentity();

/** package.json `name`. */
export const APP_NAME: string = identity.name;
/** package.json `version`. */
export const APP_VERSION: string = identity.version;
