/**
 * Announce URLs of private torrents (BEP 27) carry the member's passkey, in the query
 * (`announce.php?passkey=…`) or as a path segment (`/3f9a…c1/announce`). Trackers also quote our
 * request back in their errors, often as a bare path (bittorrent-tracker: "invalid action in HTTP
 * request: /<passkey>/scrape?info_hash=…"). Anything written to a log or shown as a tracker's
 * message goes through these functions first.
 */

/** What replaces a removed secret. */
export const REDACTED = '[redacted]';
/** A path segment at least this long that contains a digit looks like a passkey or token. */
export const PASSKEY_MIN_LENGTH = 16;
/** A path segment at least this long is treated as a token even without a digit. */
export const TOKEN_MIN_LENGTH = 32;
/**
 * Shortest query value of a known URL replaced wherever it appears in a text: shorter values
 * (`uid=12`, `port=80`) are ordinary words and numbers, and replacing them would garble messages.
 */
export const MIN_SECRET_VALUE_LENGTH = 4;

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

  const segments = path.split('/');
  const redactedPath = segments.some(isSecretLike) ? segments.map((segment) => (isSecretLike(segment) ? REDACTED : segment)).join('/') : path;
  return prefix + redactedPath + (hadQuery ? `?${REDACTED}` : '');
}

/** Replace every URL inside a free text (e.g. an error message that quotes the request URL). */
export function redactUrlsIn(text: string): string {
  return text.replace(/[a-z][a-z0-9+.-]*:\/\/[^\s"'<>]+/gi, (match) => redactUrl(match));
}

/**
 * What in a free text may be a URL or part of one:
 * - a full URL (`scheme://…`);
 * - a bare path starting a word (`/3f9a…/scrape?info_hash=…`): at the start, or after a space,
 *   quote, bracket or `:=,;` — not inside a word, so "and/or" and "1/2" stay as they are;
 * - a word carrying a query (`scrape.php?passkey=…`): a `?` followed somewhere by `=`.
 */
const URL_LIKE_IN_TEXT = /[a-z][a-z0-9+.-]*:\/\/[^\s"'<>]+|(?<=^|[\s"'(<[{=:,;])\/[^\s"'<>]*|[^\s"'<>/?]+\?[^\s"'<>]*=[^\s"'<>]*/gi;

/** Sentence punctuation after a URL in a text, kept out of what is redacted. */
const TRAILING_PUNCTUATION = /[.,;:!?)\]}]+$/;

/**
 * A free text (a tracker's error, a client's exception message) with every secret taken out:
 * first the query and the passkey-like path segments of anything that looks like a URL, a path or
 * a query, then the `secrets` known for the URLs involved (see `secretsOfUrls`) wherever they are
 * left (a passkey quoted on its own, a path segment too short to look like one).
 */
export function redactText(text: string, secrets: readonly string[] = []): string {
  let out = text.replace(URL_LIKE_IN_TEXT, (match) => {
    const tail = TRAILING_PUNCTUATION.exec(match)?.[0] ?? '';
    return redactUrl(match.slice(0, match.length - tail.length)) + tail;
  });
  for (const secret of secrets) {
    if (secret !== '' && out.includes(secret)) out = out.split(secret).join(REDACTED);
  }
  return out;
}

/**
 * The parts of one URL that `redactUrl` hides: query values (of at least
 * MIN_SECRET_VALUE_LENGTH characters), user info, and passkey-like path segments — so they can be
 * hidden too where a tracker quotes them back in a message. Longest first.
 */
export function secretsOfUrl(url: string): string[] {
  const secrets = new Set<string>();
  const { path, query, userInfo } = partsOf(url);
  if (query !== null) {
    for (const pair of query.split(/[&;]/)) {
      const value = pair.slice(pair.indexOf('=') + 1);
      if (value.length >= MIN_SECRET_VALUE_LENGTH) secrets.add(value);
    }
  }
  if (userInfo !== null && userInfo !== '') secrets.add(userInfo);
  for (const segment of path.split('/')) {
    if (isSecretLike(segment)) secrets.add(segment);
  }
  return longestFirst(secrets);
}

/**
 * Everything of these URLs (a tracker's announce and scrape URL) that must not reach a log or a
 * person's screen in a tracker's message: `secretsOfUrl` of each, plus, for a URL that carries a
 * secret, its whole query and its whole path-and-query exactly as written (a tracker may echo
 * either), and the percent-decoded form of each when it differs. Longest first, so a longer
 * secret is replaced before a shorter one inside it.
 */
export function secretsOfUrls(urls: Iterable<string>): string[] {
  const secrets = new Set<string>();
  for (const url of urls) {
    const own = secretsOfUrl(url);
    if (own.length === 0) continue;
    const { path, query } = partsOf(url);
    const whole = query === null ? [] : [query, `${path}?${query}`];
    const pathHasSecret = path.split('/').some(isSecretLike);
    if (pathHasSecret) whole.push(path);
    for (const secret of [...own, ...whole]) {
      if (secret.length < MIN_SECRET_VALUE_LENGTH) continue;
      secrets.add(secret);
      const decoded = percentDecoded(secret);
      if (decoded !== null && decoded.length >= MIN_SECRET_VALUE_LENGTH) secrets.add(decoded);
    }
  }
  return longestFirst(secrets);
}

interface UrlParts {
  /** From the first `/` after the authority up to `?`/`#` ('' when there is none). */
  path: string;
  /** Between `?` and `#`, null when there is no `?`. */
  query: string | null;
  /** Before the last `@` of the authority, null when there is none. */
  userInfo: string | null;
}

/** Split a URL's raw text without parsing or normalising it (a tracker sees these exact bytes). */
function partsOf(url: string): UrlParts {
  const hash = url.indexOf('#');
  const noFragment = hash === -1 ? url : url.slice(0, hash);
  const mark = noFragment.indexOf('?');
  const beforeQuery = mark === -1 ? noFragment : noFragment.slice(0, mark);
  const query = mark === -1 ? null : noFragment.slice(mark + 1);
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(beforeQuery);
  if (!scheme) return { path: beforeQuery, query, userInfo: null };
  const rest = beforeQuery.slice(scheme[0].length);
  const slash = rest.indexOf('/');
  const authority = slash === -1 ? rest : rest.slice(0, slash);
  const at = authority.lastIndexOf('@');
  return { path: slash === -1 ? '' : rest.slice(slash), query, userInfo: at === -1 ? null : authority.slice(0, at) };
}

function percentDecoded(text: string): string | null {
  if (!text.includes('%')) return null;
  try {
    const decoded = decodeURIComponent(text);
    return decoded === text ? null : decoded;
  } catch {
    return null;
  }
}

function longestFirst(secrets: Set<string>): string[] {
  return [...secrets].sort((a, b) => b.length - a.length);
}

function isSecretLike(segment: string): boolean {
  if (segment.includes('=') || segment.includes(';')) return true;
  if (segment.length >= TOKEN_MIN_LENGTH) return true;
  return segment.length >= PASSKEY_MIN_LENGTH && /\d/.test(segment);
}
