import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { REDACTED, redactText, redactUrl, redactUrlsIn, secretsOfUrl, secretsOfUrls } from '../../src/scrape/log.js';

describe('redactUrl', () => {
  it('removes the query string (passkey parameters)', () => {
    const out = redactUrl('https://tracker.example.org/announce.php?passkey=0123456789abcdef&uid=42');
    expect(out).toBe(`https://tracker.example.org/announce.php?${REDACTED}`);
    expect(out).not.toContain('0123456789abcdef');
    expect(out).not.toContain('uid');
  });

  it('removes passkey-like path segments, keeping the rest of the path', () => {
    const key = '3f9a1b2c4d5e6f708192a3b4c5d6e7f8';
    expect(redactUrl(`http://tracker.example.org:2710/${key}/announce`)).toBe(
      `http://tracker.example.org:2710/${REDACTED}/announce`,
    );
    expect(redactUrl(`https://t.example/announce/${key}`)).toBe(`https://t.example/announce/${REDACTED}`);
    // A shorter token with digits is still a token.
    expect(redactUrl('http://t.example/a1b2c3d4e5f6g7h8/announce')).toBe(`http://t.example/${REDACTED}/announce`);
  });

  it('keeps ordinary URLs readable', () => {
    expect(redactUrl('udp://tracker.opentrackr.org:1337/announce')).toBe('udp://tracker.opentrackr.org:1337/announce');
    expect(redactUrl('http://bttracker.debian.org:6969/announce')).toBe('http://bttracker.debian.org:6969/announce');
    expect(redactUrl('wss://tracker.webtorrent.dev')).toBe('wss://tracker.webtorrent.dev');
  });

  it('removes user:password and fragments', () => {
    const out = redactUrl('http://alice:s3cret@tracker.example/announce#frag?x=1');
    expect(out).toBe(`http://${REDACTED}@tracker.example/announce?${REDACTED}`);
    expect(out).not.toContain('s3cret');
    expect(redactUrl('http://tracker.example/announce#only-fragment')).toBe('http://tracker.example/announce');
  });

  it('redacts path parameters and keeps unparseable input safe', () => {
    expect(redactUrl('http://t.example/announce;pk=abc')).toBe(`http://t.example/${REDACTED}`);
    expect(redactUrl('not a url?passkey=abcdef')).toBe(`not a url?${REDACTED}`);
    expect(redactUrl('')).toBe('');
  });

  it('never decodes: percent-encoded tokens are redacted as they are', () => {
    const out = redactUrl('http://t.example/%61%62%63%64%65%66%30%31/announce');
    expect(out).toBe(`http://t.example/${REDACTED}/announce`);
  });
});

describe('redactUrlsIn', () => {
  it('redacts every URL inside a message', () => {
    const msg = 'request to http://t.example/announce.php?passkey=deadbeef failed; retried https://u:p@x.example/k/announce?a=b';
    const out = redactUrlsIn(msg);
    expect(out).not.toContain('deadbeef');
    expect(out).not.toContain('u:p@');
    expect(out).toContain('http://t.example/announce.php?[redacted]');
    expect(out).toContain('failed; retried');
  });
});

describe('redactText', () => {
  const pathKey = 'abcdef0123456789abcdef0123456789';

  it("takes path passkeys and the query out of a bare request path, as bittorrent-tracker echoes it", () => {
    const message = `tracker says: invalid action in HTTP request: /${pathKey}/scrape?info_hash=%12%34V%89`;
    const out = redactText(message);
    expect(out).toBe(`tracker says: invalid action in HTTP request: /${REDACTED}/scrape?${REDACTED}`);
    // The same with nothing known about the URL, quoted, or after a colon without a space.
    expect(redactText(`bad target "/${pathKey}/scrape"`)).toBe(`bad target "/${REDACTED}/scrape"`);
    expect(redactText(`path:/${pathKey}/scrape`)).toBe(`path:/${REDACTED}/scrape`);
  });

  it('takes the query out of a relative URL in free text', () => {
    const out = redactText('no torrent for scrape.php?passkey=deadbeefcafe&info_hash=x here');
    expect(out).toBe(`no torrent for scrape.php?${REDACTED} here`);
  });

  it('still redacts full URLs', () => {
    const out = redactText('redirected to https://u:p@t.example/k/announce?a=b, giving up');
    expect(out).toBe(`redirected to https://${REDACTED}@t.example/k/announce?${REDACTED}, giving up`);
  });

  it("replaces a known URL's secrets wherever they appear, and its whole path and query", () => {
    const announce = 'http://t.example:2710/announce.php?passkey=SECRET1234&uid=7';
    const secrets = secretsOfUrls([announce, announce.replace('/announce', '/scrape')]);
    expect(redactText('unknown passkey SECRET1234 (uid 7)', secrets)).toBe(`unknown passkey ${REDACTED} (uid 7)`);
    expect(redactText('bad request passkey=SECRET1234&uid=7', secrets)).toBe(`bad request ${REDACTED}`);
    expect(redactText('/announce.php?passkey=SECRET1234&uid=7', secrets)).toBe(`/announce.php?${REDACTED}`);
    expect(redactText('passkey=SECRET1234&uid=7', secrets)).toBe(REDACTED);

    const inPath = `http://t.example/${pathKey}/announce`;
    const pathSecrets = secretsOfUrls([inPath]);
    expect(pathSecrets).toContain(`/${pathKey}/announce`);
    expect(redactText(`key ${pathKey} is banned`, pathSecrets)).toBe(`key ${REDACTED} is banned`);
  });

  it('also knows the percent-decoded form of a secret', () => {
    const secrets = secretsOfUrls(['http://t.example/announce?passkey=ab%2Bcd%3D1234']);
    expect(redactText('bad passkey ab+cd=1234', secrets)).not.toContain('ab+cd=1234');
    expect(redactText('bad passkey ab%2Bcd%3D1234', secrets)).not.toContain('ab%2Bcd');
  });

  it('leaves ordinary messages alone', () => {
    for (const message of [
      'connection failed (ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:6969)',
      'tracker says: torrent not registered with this tracker',
      'the tracker answered HTML (a web page), not a scrape reply',
      'and/or 1/2 of the peers',
      'GET /announce failed',
      'really? yes',
    ]) {
      expect(redactText(message)).toBe(message);
    }
    // A URL with no secret gives no secrets to look for.
    expect(secretsOfUrls(['udp://tracker.example:1337/announce', 'http://t.example/announce'])).toEqual([]);
  });

  it('never lets a passkey through, however a tracker quotes the request', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[0-9a-f]{16,40}$/),
        fc.constantFrom('path', 'query', 'both'),
        fc.constantFrom(
          (target: string) => `invalid action in HTTP request: ${target}`,
          (target: string, origin: string) => `"${origin}${target}" is not allowed`,
          (target: string) => `bad target:${target}.`,
          (target: string) => `(${target})`,
        ),
        fc.array(fc.uint8Array({ minLength: 20, maxLength: 20 }), { minLength: 1, maxLength: 2 }),
        (passkey, where, quote, hashes) => {
          const origin = 'http://tracker.example:2710';
          const path = where === 'query' ? '/announce.php' : `/${passkey}/announce`;
          const query = where === 'path' ? '' : `?passkey=${passkey}`;
          const announce = `${origin}${path}${query}`;
          const scrape = announce.replace('/announce', '/scrape');
          const infoHash = hashes.map((h) => `info_hash=${[...h].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('')}`).join('&');
          const target = `${scrape.slice(origin.length)}${query ? '&' : '?'}${infoHash}`;
          const out = redactText(quote(target, origin), secretsOfUrls([scrape, announce]));
          expect(out).not.toContain(passkey);
          expect(out).not.toContain('info_hash=');
        },
      ),
    );
  });
});

describe('secretsOfUrl', () => {
  it('finds query values, user info and passkey-like path segments', () => {
    expect(secretsOfUrl('http://t.example/announce.php?passkey=abcdef&uid=12')).toEqual(['abcdef']);
    expect(secretsOfUrl('https://user:pw@t.example/announce')).toEqual(['user:pw']);
    expect(secretsOfUrl('http://t.example/0123456789abcdef0123/announce')).toEqual(['0123456789abcdef0123']);
    expect(secretsOfUrl('udp://tracker.example:1337/announce')).toEqual([]);
  });
});
