/**
 * Announce URLs of private torrents (BEP 27) carry the member's passkey, in the query
 * (`announce.php?passkey=…`) or as a path segment (`/3f9a…c1/announce`). Anything written to a log
 * goes through these functions first.
 */

/** What replaces a removed secret. */
export const REDACTED = '[redacted]';
/** A path segment at least this long that contains a digit looks like a passkey or token. */
export const PASSKEY_MIN_LENGTH = 16;
/** A path segment at least this long is treated as a token even without a digit. */
export const TOKEN_MIN_LENGTH = 32;

/**
 * The URL without what may identify a member: query and fragment, user:password, and passkey-like
 * path segments. Works on the raw text (never decodes or normalises), so even an unparseable
 * "URL" comes out safe.
 */
export function redactUrl(url: string): string {
  let text = url;
  let hadQuery = false;
  const cut = text.search(/[?#]/);
  if (cut !== -1) {
    hadQuery = text.includes('?', cut);
    text = text.slice(0, cut);
  }

  let prefix = '';
  let path = text;
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(text);
  if (scheme) {
    const rest = text.slice(scheme[0].length);
    const slash = rest.indexOf('/');
    let authority = slash === -1 ? rest : rest.slice(0, slash);
    path = slash === -1 ? '' : rest.slice(slash);
    const at = authority.lastIndexOf('@');
    if (at !== -1) authority = `${REDACTED}@${authority.slice(at + 1)}`;
    prefix = scheme[0] + authority;
  }

  const redactedPath = path
    .split('/')
    .map((segment) => (isSecretLike(segment) ? REDACTED : segment))
    .join('/');
  return prefix + redactedPath + (hadQuery ? `?${REDACTED}` : '');
}

/** Replace every URL inside a free text (e.g. an error message that quotes the request URL). */
export function redactUrlsIn(text: string): string {
  return text.replace(/[a-z][a-z0-9+.-]*:\/\/[^\s"'<>]+/gi, (match) => redactUrl(match));
}

function isSecretLike(segment: string): boolean {
  if (segment.includes('=') || segment.includes(';')) return true;
  if (segment.length >= TOKEN_MIN_LENGTH) return true;
  return segment.length >= PASSKEY_MIN_LENGTH && /\d/.test(segment);
}
