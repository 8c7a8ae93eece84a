import { describe, expect, it } from 'vitest';
import { appendInfoHashes, percentEncodeBytes, requestTargetOf, scrapeUrlFor } from '../../src/scrape/url.js';

describe('scrapeUrlFor: the BEP 48 announce → scrape rule', () => {
  const supported: [string, string, string][] = [
    ['http://tracker.example/announce', 'http', 'http://tracker.example/scrape'],
    ['https://tracker.example:8443/announce', 'https', 'https://tracker.example:8443/scrape'],
    ['http://tracker.example/x/announce', 'http', 'http://tracker.example/x/scrape'],
    ['http://tracker.example/announce.php', 'http', 'http://tracker.example/scrape.php'],
    ['http://tracker.example/announce.php?passkey=x', 'http', 'http://tracker.example/scrape.php?passkey=x'],
    ['http://t.example/tracker/announce.php?passkey=AbC%2F&uid=7', 'http', 'http://t.example/tracker/scrape.php?passkey=AbC%2F&uid=7'],
    ['http://tracker.example/announcement', 'http', 'http://tracker.example/scrapement'],
    ['http://tracker.example/announce?x=2', 'http', 'http://tracker.example/scrape?x=2'],
    ['http://tracker.example/abc%2Fdef/announce', 'http', 'http://tracker.example/abc%2Fdef/scrape'],
    ['http://tracker.example/a/announce/../announce', 'http', 'http://tracker.example/a/announce/../scrape'],
    ['http://[2001:db8::1]:6969/announce', 'http', 'http://[2001:db8::1]:6969/scrape'],
    ['http://[::1]/announce.php?k=1', 'http', 'http://[::1]/scrape.php?k=1'],
    ['HTTP://Tracker.Example/announce', 'http', 'HTTP://Tracker.Example/scrape'],
    ['  http://tracker.example/announce\n', 'http', 'http://tracker.example/scrape'],
    // A fragment is never sent: it is cut, so appended parameters cannot land in it.
    ['http://tracker.example/announce#frag', 'http', 'http://tracker.example/scrape'],
    ['udp://tracker.example:1337', 'udp', 'udp://tracker.example:1337'],
    ['udp://tracker.example:1337/announce', 'udp', 'udp://tracker.example:1337/announce'],
    ['udp://[2001:db8::2]:6969/announce', 'udp', 'udp://[2001:db8::2]:6969/announce'],
    ['ws://tracker.example:8000', 'ws', 'ws://tracker.example:8000'],
    ['wss://tracker.webtorrent.dev', 'wss', 'wss://tracker.webtorrent.dev'],
  ];
  for (const [announce, protocol, scrape] of supported) {
    it(`${JSON.stringify(announce)} → ${scrape}`, () => {
      expect(scrapeUrlFor(announce)).toEqual({ supported: true, protocol, scrape });
    });
  }

  const unsupported: [string, string, RegExp][] = [
    ['http://tracker.example/a', 'http', /does not begin with "announce"/],
    ['http://tracker.example/announce?x=2/4', 'http', /last '\/' is in its query/],
    ['http://tracker.example/x%064announce', 'http', /does not begin with "announce"/],
    ['http://tracker.example/Announce', 'http', /does not begin with "announce"/],
    ['http://tracker.example/announce/', 'http', /does not begin with "announce"/],
    ['http://tracker.example/%61nnounce', 'http', /does not begin with "announce"/],
    ['http://announce.example', 'http', /no path/],
    ['http://tracker.example', 'http', /no path/],
    ['http://tracker.example?announce', 'http', /no path/],
    ['http:tracker.example/announce', 'http', /no "\/\/"/],
    ['https://', 'other', /not a valid URL/],
    ['udp://tracker.example', 'udp', /no port/],
    ['udp://tracker.example:0/announce', 'udp', /no port/],
    ['file:///etc/announce', 'other', /file: scheme/],
    ['javascript:alert(1)//announce', 'other', /javascript: scheme/],
    ['ftp://tracker.example/announce', 'other', /ftp: scheme/],
    ['gopher://tracker.example/announce', 'other', /gopher: scheme/],
    ['data:text/plain,announce', 'other', /data: scheme/],
    ['tracker.example/announce', 'other', /not a valid URL/],
    ['', 'other', /not a valid URL/],
    ['   ', 'other', /not a valid URL/],
    ['http://exa mple/announce', 'other', /not a valid URL/],
    // WHATWG parsers end the host at `\` (host 127.0.0.1), RFC 3986 ones do not (host tracker.example).
    ['http://127.0.0.1\\@tracker.example/announce', 'http', /'\\' in the URL's host part/],
    ['https://tracker.example\\x/announce', 'https', /'\\' in the URL's host part/],
  ];
  for (const [announce, protocol, reason] of unsupported) {
    it(`${JSON.stringify(announce)} is unsupported`, () => {
      const target = scrapeUrlFor(announce);
      expect(target.supported).toBe(false);
      expect(target.scrape).toBeNull();
      expect(target.protocol).toBe(protocol);
      if (!target.supported) expect(target.reason).toMatch(reason);
    });
  }
});

describe('requestTargetOf: path and query exactly as written', () => {
  const cases: [string, string | null][] = [
    ['http://t.example/a/../scrape', '/a/../scrape'],
    ['http://t.example/a/%2e%2e/scrape', '/a/%2e%2e/scrape'],
    ['http://t.example/a\\b/scrape', '/a\\b/scrape'],
    ['http://t.example/scrape?x=\'1\'&y="2"&z=<>{}|^`', '/scrape?x=\'1\'&y="2"&z=<>{}|^`'],
    ['http://t.example/scrape?q=%7e&p=%ZZ', '/scrape?q=%7e&p=%ZZ'],
    ['http://t.example/s c/é?\u0000=\u007f', '/s%20c/%C3%A9?%00=%7F'],
    ['http://t.example/scrape?k#frag?x', '/scrape?k'],
    ['http://user:pw@t.example:81/scrape', '/scrape'],
    ['http://t.example', '/'],
    ['http://t.example?x=1', '/?x=1'],
    ['  http://t.example/scrape\n', '/scrape'],
    ['http://[::1]:80/scrape', '/scrape'],
    ['http://t.example\\@other.example/scrape', null],
    ['http:t.example/scrape', null],
    ['/scrape', null],
  ];
  for (const [url, target] of cases) {
    it(`${JSON.stringify(url)} → ${JSON.stringify(target)}`, () => {
      expect(requestTargetOf(url)).toBe(target);
    });
  }

  it('encodes a lone surrogate as U+FFFD, as URL parsers do, instead of throwing', () => {
    expect(requestTargetOf('http://t.example/\ud800')).toBe('/%EF%BF%BD');
  });
});

describe('appendInfoHashes', () => {
  const hash = Buffer.from(`00ff2b20412f3f26237e2e5f2d${'61'.repeat(7)}`, 'hex');

  it('percent-encodes every byte, even unreserved ones', () => {
    expect(percentEncodeBytes(hash)).toBe('%00%FF%2B%20%41%2F%3F%26%23%7E%2E%5F%2D%61%61%61%61%61%61%61');
  });

  it('starts a query with ? and extends an existing one with &', () => {
    const encoded = percentEncodeBytes(hash);
    expect(appendInfoHashes('http://t.example/scrape', [hash])).toBe(`http://t.example/scrape?info_hash=${encoded}`);
    expect(appendInfoHashes('http://t.example/scrape.php?passkey=x', [hash])).toBe(
      `http://t.example/scrape.php?passkey=x&info_hash=${encoded}`,
    );
    expect(appendInfoHashes('http://t.example/scrape?', [hash])).toBe(`http://t.example/scrape?info_hash=${encoded}`);
  });

  it('repeats info_hash for several torrents in one request', () => {
    const other = Buffer.alloc(20, 0xab);
    const url = appendInfoHashes('http://t.example/scrape', [hash, other]);
    expect(url).toBe(`http://t.example/scrape?info_hash=${percentEncodeBytes(hash)}&info_hash=${'%AB'.repeat(20)}`);
  });

  it('keeps the scrape URL text as it is (no decoding, no normalising)', () => {
    expect(appendInfoHashes('http://T.example/a%2Fb/scrape?k=%7E', [hash]).startsWith('http://T.example/a%2Fb/scrape?k=%7E&info_hash=')).toBe(true);
  });

  it('refuses a hash that is not 20 bytes, or none at all', () => {
    expect(() => appendInfoHashes('http://t.example/scrape', [Buffer.alloc(32)])).toThrow(expect.objectContaining({ code: 'SCRAPE_BAD_HASH' }));
    expect(() => appendInfoHashes('http://t.example/scrape', [])).toThrow(expect.objectContaining({ code: 'SCRAPE_NO_HASH' }));
  });
});
