import { describe, expect, it } from 'vitest';
import type { TrackerStat } from '../../src/scrape/types.js';
import { parseMagnet } from '../../src/torrent/index.js';
import type { Torrent } from '../../src/torrent/types.js';
import { VIEWS_DIR } from '../../src/web/app.js';
import { Templates } from '../../src/web/render.js';
import {
  answerAge,
  displayText,
  formatAge,
  formatBytes,
  formatCount,
  formatDate,
  isoTime,
  JUST_NOW_MS,
  jsonResult,
  linkify,
  MAX_PERMALINK_CHARS,
  cutCodePoints,
  magnetFor,
  permalinkFor,
  piecesAfterSlash,
  resultView,
  safeHref,
  secretsOf,
  totalsOf,
} from '../../src/web/view-model.js';

const V1 = '0123456789abcdef0123456789abcdef01234567';
const V2 = 'ab'.repeat(32);

function torrent(overrides: Partial<Torrent> = {}): Torrent {
  return {
    source: 'file',
    hasMetadata: true,
    name: 'example',
    infoHashV1: V1,
    infoHashV2: null,
    version: 'v1',
    totalSize: 1000,
    pieceLength: 16384,
    pieceCount: 1,
    files: [{ path: 'example', size: 1000 }],
    paddingFiles: 0,
    private: false,
    comment: null,
    createdBy: null,
    creationDate: null,
    webSeeds: [],
    trackers: [['http://t.example/announce']],
    warnings: [],
    ...overrides,
  };
}

function stat(overrides: Partial<TrackerStat> = {}): TrackerStat {
  return {
    announce: 'http://t.example/announce',
    scrape: 'http://t.example/scrape',
    tier: 0,
    protocol: 'http',
    infoHash: V1,
    hashKind: 'v1',
    status: 'ok',
    seeders: 1,
    leechers: 2,
    completed: 3,
    downloaders: null,
    error: null,
    warning: null,
    ms: 12,
    family: 4,
    cached: false,
    answeredAt: null,
    ...overrides,
  };
}

describe('formatting', () => {
  it('sizes in binary units with the exact bytes alongside', () => {
    expect(formatBytes(0)).toEqual({ text: '0 B', exact: '0 bytes' });
    expect(formatBytes(1)).toEqual({ text: '1 B', exact: '1 byte' });
    expect(formatBytes(1023).text).toBe('1023 B');
    expect(formatBytes(1024).text).toBe('1.00 KiB');
    expect(formatBytes(10 * 1024 * 1024).text).toBe('10.0 MiB');
    expect(formatBytes(1_572_864_000)).toEqual({ text: '1.46 GiB', exact: '1,572,864,000 bytes' });
    expect(formatBytes(300 * 1024 ** 4).text).toBe('300 TiB');
  });

  it('counts: unknown is a dash, never 0', () => {
    expect(formatCount(null)).toBe('—');
    expect(formatCount(0)).toBe('0');
    expect(formatCount(1234567)).toBe('1,234,567');
  });

  it('dates in UTC, invalid dates as unknown', () => {
    expect(formatDate(new Date(Date.UTC(2024, 4, 1, 12, 34, 56)))).toEqual({
      text: '2024-05-01 12:34:56 UTC',
      iso: '2024-05-01T12:34:56.000Z',
    });
    expect(formatDate(new Date(Number.NaN))).toBeNull();
  });
});

describe('answer ages', () => {
  const SECOND = 1000;
  const MINUTE = 60 * SECOND;
  const HOUR = 60 * MINUTE;

  it('reads "just now" while fresh, then seconds, minutes, hours and days', () => {
    expect(formatAge(0)).toBe('just now');
    expect(formatAge(JUST_NOW_MS - 1)).toBe('just now');
    expect(formatAge(JUST_NOW_MS)).toBe(`${JUST_NOW_MS / SECOND} s ago`);
    expect(formatAge(59_999)).toBe('59 s ago');
    expect(formatAge(MINUTE)).toBe('1 min ago');
    expect(formatAge(3 * MINUTE + 59 * SECOND)).toBe('3 min ago');
    expect(formatAge(59 * MINUTE)).toBe('59 min ago');
    expect(formatAge(HOUR)).toBe('1 h ago');
    expect(formatAge(2 * HOUR + 5 * MINUTE)).toBe('2 h 5 min ago');
    expect(formatAge(24 * HOUR)).toBe('1 day ago');
    expect(formatAge(3 * 24 * HOUR + HOUR)).toBe('3 days ago');
  });

  it('a stamp a moment ahead of the page clock, or no number at all, is "just now", not a negative age', () => {
    expect(formatAge(-5 * SECOND)).toBe('just now');
    expect(formatAge(Number.NaN)).toBe('just now');
  });

  it('gives the exact time beside the relative one, and nothing for a missing or impossible stamp', () => {
    const now = new Date(Date.UTC(2024, 4, 1, 12, 0, 0));
    expect(answerAge(now.getTime() - 3 * MINUTE, now)).toEqual({
      ago: '3 min ago',
      exact: '2024-05-01 11:57:00 UTC',
      iso: '2024-05-01T11:57:00.000Z',
    });
    expect(answerAge(null, now)).toBeNull();
    expect(answerAge(Number.NaN, now)).toBeNull();
    expect(answerAge(9e15, now)).toBeNull();
    expect(isoTime(Date.UTC(2020, 0, 1))).toBe('2020-01-01T00:00:00.000Z');
    expect(isoTime(null)).toBeNull();
    expect(isoTime(Number.POSITIVE_INFINITY)).toBeNull();
  });
});

describe('displayText', () => {
  it('leaves ordinary text alone', () => {
    expect(displayText('Big Buck Bunny (2008)', 100)).toEqual({ text: 'Big Buck Bunny (2008)', truncated: false, length: 21 });
  });

  it('cuts by code points without splitting a surrogate pair', () => {
    const result = displayText('😀😀😀😀', 2);
    expect(result).toEqual({ text: '😀😀…', truncated: true, length: 4 });
    expect(displayText('abc', 3).truncated).toBe(false);
  });

  it('shows bidi embeddings/overrides/isolates as code points, keeps marks', () => {
    expect(displayText('a\u202Eb\u2066c\u2069d', 50).text).toBe('a⟨U+202E⟩b⟨U+2066⟩c⟨U+2069⟩d');
    expect(displayText('\u05E9\u05DC\u05D5\u05DD\u200F', 50).text).toBe('\u05E9\u05DC\u05D5\u05DD\u200F');
  });

  it('replaces control characters; line breaks survive only in multi-line text', () => {
    expect(displayText('a\u0000b\u0007c\u009bd', 50).text).toBe('a\uFFFDb\uFFFDc\uFFFDd');
    expect(displayText('line1\nline2\tx', 50).text).toBe('line1 line2 x');
    expect(displayText('line1\nline2', 50, { multiline: true }).text).toBe('line1\nline2');
  });

  it('is fast on a 10 MB string', () => {
    const started = performance.now();
    const result = displayText('x'.repeat(10_000_000), 300);
    expect(result.length).toBe(10_000_000);
    expect(result.text).toHaveLength(301);
    expect(performance.now() - started).toBeLessThan(1000);
  });
});

describe('safeHref', () => {
  it.each([
    ['https://example.org/a?b=c', 'https://example.org/a?b=c'],
    ['http://example.org', 'http://example.org/'],
    ['  https://example.org/  ', 'https://example.org/'],
  ])('links %s', (input, href) => {
    expect(safeHref(input)).toBe(href);
  });

  it.each([
    'javascript:alert(1)',
    'JaVaScRiPt:alert(1)',
    'data:text/html,<script>alert(1)</script>',
    'file:///etc/passwd',
    'ftp://example.org/',
    'udp://tracker.example:1337',
    'vbscript:msgbox',
    '//example.org/protocol-relative',
    '/relative/path',
    'not a url',
    '',
  ])('does not link %s', (input) => {
    expect(safeHref(input)).toBeNull();
  });
});

describe('linkify', () => {
  it('links http(s) URLs inside text, leaving punctuation and other schemes as text', () => {
    expect(linkify('Open movie — https://peach.blender.org/. Mirror: http://m.example/x?a=1), javascript:alert(1)')).toEqual([
      { text: 'Open movie — ', href: null },
      { text: 'https://peach.blender.org/', href: 'https://peach.blender.org/' },
      { text: '. Mirror: ', href: null },
      { text: 'http://m.example/x?a=1', href: 'http://m.example/x?a=1' },
      { text: '), javascript:alert(1)', href: null },
    ]);
    expect(linkify('no links here')).toEqual([{ text: 'no links here', href: null }]);
    expect(linkify('http://"onmouseover=alert(1)')).toEqual([{ text: 'http://"onmouseover=alert(1)', href: null }]);
  });
});

describe('totals', () => {
  it('takes the best answer per count across trackers, ignoring rows that did not answer', () => {
    const stats = [
      stat({ seeders: 10, leechers: 1, completed: 100 }),
      stat({ seeders: 7, leechers: 9, completed: null }),
      stat({ status: 'error', seeders: null, leechers: null, completed: null }),
    ];
    expect(totalsOf(stats)).toEqual({ seeders: 10, leechers: 9, completed: 100 });
  });

  it('is null (not 0) when nobody answered, and 0 when a tracker said 0', () => {
    expect(totalsOf([])).toEqual({ seeders: null, leechers: null, completed: null });
    expect(totalsOf([stat({ status: 'timeout', seeders: null, leechers: null, completed: null })])).toEqual({
      seeders: null,
      leechers: null,
      completed: null,
    });
    expect(totalsOf([stat({ seeders: 0, leechers: 0, completed: 0 })])).toEqual({ seeders: 0, leechers: 0, completed: 0 });
  });
});

describe('magnet links and permalinks', () => {
  it('round-trip through the magnet parser: hashes, trackers in order, name', () => {
    const t = torrent({
      infoHashV2: V2,
      version: 'hybrid',
      name: 'a name & more',
      trackers: [['http://a.example/announce?passkey=x&y=1'], ['udp://b.example:80', 'wss://c.example/']],
    });
    const magnet = magnetFor(t);
    expect(magnet).toMatch(/^magnet:\?xt=urn:btih:[0-9a-f]{40}&xt=urn:btmh:1220[0-9a-f]{64}&dn=/);
    const parsed = parseMagnet(magnet!);
    expect(parsed.infoHashV1).toBe(V1);
    expect(parsed.infoHashV2).toBe(V2);
    expect(parsed.name).toBe('a name & more');
    expect(parsed.trackers.flat()).toEqual(['http://a.example/announce?passkey=x&y=1', 'udp://b.example:80', 'wss://c.example/']);
  });

  it('the magnet keeps the real name (bidi marks and all), only cut by code points', () => {
    const name = 'evil\u202Etxt.exe 🎬';
    const magnet = magnetFor(torrent({ name }))!;
    expect(new URL(magnet).searchParams.get('dn')).toBe(name);
    expect(cutCodePoints('a🎬b', 2)).toBe('a🎬');
    expect(cutCodePoints('abc', 5)).toBe('abc');
  });

  it('no permalink when a public torrent announces with a passkey', () => {
    const keyed = torrent({ trackers: [['http://127.0.0.1:1/announce?passkey=PUBLICPASSKEY123']] });
    const link = permalinkFor(keyed);
    expect(link.href).toBeNull();
    expect(link.note).toContain('passkey');
    expect(JSON.stringify(link)).not.toContain('PUBLICPASSKEY123');
    expect(permalinkFor(torrent({ trackers: [['http://127.0.0.1:1/announce']] })).href).not.toBeNull();
  });

  it('no permalink for private torrents, nor when it would not fit a request line', () => {
    expect(permalinkFor(torrent()).href).toMatch(/^\/scrape\?magnet=magnet%3A%3Fxt%3Durn%3Abtih%3A/);
    expect(permalinkFor(torrent({ private: true }))).toEqual({ href: null, note: expect.stringContaining('passkey') });
    const many = torrent({ trackers: Array.from({ length: 200 }, (_, i) => [`http://tracker-${i}.example.org/announce`]) });
    const link = permalinkFor(many);
    expect(link.href).toBeNull();
    expect(link.note).toContain('too many trackers');
    expect(encodeURIComponent(magnetFor(many)!).length).toBeGreaterThan(MAX_PERMALINK_CHARS);
  });
});

describe('secretsOf', () => {
  it('finds query values, user info and passkey-like path segments', () => {
    expect(secretsOf('http://t.example/announce.php?passkey=abcdef&uid=12')).toEqual(['abcdef']);
    expect(secretsOf('https://user:pw@t.example/announce')).toEqual(['user:pw']);
    expect(secretsOf('http://t.example/0123456789abcdef0123/announce')).toEqual(['0123456789abcdef0123']);
    expect(secretsOf('udp://tracker.example:1337/announce')).toEqual([]);
  });
});

describe('resultView', () => {
  it('hides passkeys in the visible tracker URL and in tracker messages', () => {
    const announce = 'http://t.example/announce.php?passkey=SECRET1234';
    const view = resultView(
      torrent({ trackers: [[announce]], private: true }),
      [stat({ announce, status: 'error', error: 'unknown passkey SECRET1234 for /announce.php?passkey=SECRET1234' })],
      { scrapedAt: new Date(0), autoRefreshMs: 60_000 },
    );
    expect(view.trackers.rows[0]?.url.text).toBe('http://t.example/announce.php?[redacted]');
    expect(view.trackers.rows[0]?.error?.text).not.toContain('SECRET1234');
    expect(view.permalink).toBeNull();
    expect(view.autoRefreshSeconds).toBeNull();
  });

  it('refreshes itself only when reached by its permalink and there is someone to ask', () => {
    const options = { scrapedAt: new Date(0), autoRefreshMs: 30_000 };
    expect(resultView(torrent(), [stat()], options).autoRefreshSeconds).toBe(30);
    expect(resultView(torrent(), [stat()], { ...options, autoRefreshMs: 0 }).autoRefreshSeconds).toBeNull();
    expect(resultView(torrent({ trackers: [] }), [], options).autoRefreshSeconds).toBeNull();
  });

  describe('freshness', () => {
    const scrapedAt = new Date(Date.UTC(2024, 4, 1, 12, 0, 0));
    const ago = (ms: number) => scrapedAt.getTime() - ms;
    const options = { scrapedAt, autoRefreshMs: 0 };

    it('dates each cached row against the page time; rows asked just now get no age', () => {
      const view = resultView(
        torrent(),
        [
          stat({ cached: true, ms: 0, answeredAt: ago(3 * 60_000 + 20_000) }),
          stat({ cached: true, ms: 0, answeredAt: ago(2_000) }),
          stat({ cached: false, answeredAt: ago(150) }),
          // Cached, but from a scraper that did not stamp it: said to be cached, no age made up.
          stat({ cached: true, ms: 0, answeredAt: null }),
        ],
        options,
      );
      const [old, recent, fresh, unstamped] = view.trackers.rows;
      expect(old?.answered).toEqual({ ago: '3 min ago', exact: '2024-05-01 11:56:40 UTC', iso: '2024-05-01T11:56:40.000Z' });
      expect(old?.time).toBe('cached');
      expect(recent?.answered?.ago).toBe('just now');
      expect(fresh?.answered).toBeNull();
      expect(fresh?.time).toBe('12 ms');
      expect(unstamped?.answered).toBeNull();
      expect(unstamped?.time).toBe('cached');
    });

    it('names the oldest answer behind the totals when it is not fresh', () => {
      const stats = [
        stat({ cached: true, ms: 0, answeredAt: ago(45 * 60_000) }),
        stat({ cached: true, ms: 0, answeredAt: ago(2 * 60_000) }),
        // Older still, but an error gives no figure to the totals.
        stat({ status: 'error', seeders: null, leechers: null, completed: null, cached: true, answeredAt: ago(5 * 3_600_000) }),
        stat({ answeredAt: ago(100) }),
      ];
      expect(resultView(torrent(), stats, options).totals.oldestAnswer).toEqual({
        ago: '45 min ago',
        exact: '2024-05-01 11:15:00 UTC',
        iso: '2024-05-01T11:15:00.000Z',
      });
      // All fresh, or nothing stamped: no remark.
      expect(resultView(torrent(), [stat({ answeredAt: ago(100) }), stat({ cached: true, answeredAt: ago(JUST_NOW_MS - 1) })], options).totals.oldestAnswer).toBeNull();
      expect(resultView(torrent(), [stat({ cached: true, answeredAt: null })], options).totals.oldestAnswer).toBeNull();
      expect(resultView(torrent(), [stat({ cached: true, answeredAt: ago(JUST_NOW_MS) })], options).totals.oldestAnswer?.ago).toBe('10 s ago');
    });

    it('the page shows the ages in <time> elements with the exact time as their title', () => {
      const view = resultView(
        torrent(),
        [stat({ cached: true, ms: 0, answeredAt: ago(3 * 60_000) }), stat({ answeredAt: ago(50) })],
        options,
      );
      const html = new Templates(VIEWS_DIR).render('result', { title: 't' }, view);
      expect(html).toContain(
        'From the cache: answered <time datetime="2024-05-01T11:57:00.000Z" title="2024-05-01 11:57:00 UTC">3 min ago</time>',
      );
      expect(html.match(/class="note-age"/g)).toHaveLength(1);
      expect(html).toMatch(
        /id="oldest-answer">\s*Some figures come from the cache: the oldest was answered by its tracker\s*<time datetime="2024-05-01T11:57:00\.000Z" title="2024-05-01 11:57:00 UTC">3 min ago<\/time>\./,
      );
      const fresh = new Templates(VIEWS_DIR).render('result', { title: 't' }, resultView(torrent(), [stat({ answeredAt: ago(50) })], options));
      expect(fresh).not.toContain('oldest-answer');
      expect(fresh).not.toContain('note-age');
    });
  });

  it('names the family that answered (IPv4 / IPv6) in the row, in words, only after an exchange', () => {
    const stats = [
      stat({ family: 6 }),
      stat({ family: 4 }),
      stat({ status: 'blocked', family: null, seeders: null, leechers: null, completed: null, ms: 0, error: 'private address' }),
    ];
    const view = resultView(torrent(), stats, { scrapedAt: new Date(0), autoRefreshMs: 0 });
    expect(view.trackers.rows.map((r) => r.family)).toEqual(['IPv6', 'IPv4', null]);
    const html = new Templates(VIEWS_DIR).render('result', { title: 't' }, view);
    const tags = [...html.matchAll(/<span class="family" title="([^"]+)"><span class="visually-hidden">answered over <\/span>(IPv[46])<\/span>/g)];
    expect(tags.map((m) => [m[1], m[2]])).toEqual([
      ['The tracker answered over IPv6', 'IPv6'],
      ['The tracker answered over IPv4', 'IPv4'],
    ]);
    // The tag sits in the URL's line, after the URL, inside the tracker cell.
    expect(html).toMatch(/<bdi class="url">[\s\S]*?<\/bdi><span class="family"/);
    const blockedRow = /<tr class="row-blocked">[\s\S]*?<\/tr>/.exec(html)?.[0] ?? '';
    expect(blockedRow).not.toBe('');
    expect(blockedRow).not.toContain('class="family"');
  });

  it('caps the rendered file list; the JSON keeps every file', () => {
    const files = Array.from({ length: 5000 }, (_, i) => ({ path: `f${i}`, size: i }));
    const t = torrent({ files });
    const view = resultView(t, [], { scrapedAt: new Date(0), autoRefreshMs: 0 });
    expect(view.files.rows).toHaveLength(1000);
    expect(view.files.hidden).toBe(4000);
    expect(view.files.open).toBe(false);
    expect(jsonResult(t, []).torrent.files).toHaveLength(5000);
  });
});

describe('jsonResult', () => {
  it('has exactly the contract fields', () => {
    const result = jsonResult(torrent({ creationDate: new Date(Date.UTC(2020, 0, 1)) }), [stat()]);
    expect(Object.keys(result.torrent)).toEqual([
      'name',
      'infoHash',
      'infoHashV2',
      'totalSize',
      'pieceLength',
      'pieceCount',
      'private',
      'comment',
      'createdBy',
      'creationDate',
      'files',
      'webSeeds',
      'trackers',
    ]);
    expect(result.torrent.creationDate).toBe('2020-01-01T00:00:00.000Z');
    expect(Object.keys(result.trackers[0]!)).toEqual([
      'announce',
      'scrape',
      'tier',
      'protocol',
      'infoHash',
      'status',
      'seeders',
      'leechers',
      'completed',
      'error',
      'warning',
      'ms',
      'family',
      'cached',
      'answeredAt',
    ]);
    expect(Object.keys(result.totals)).toEqual(['seeders', 'leechers', 'completed']);
  });

  it('says per row which address family answered: 4, 6, or null when nothing was exchanged', () => {
    const rows = jsonResult(torrent(), [
      stat({ family: 4 }),
      stat({ family: 6, cached: true, ms: 0 }),
      stat({ status: 'unsupported', scrape: null, family: null, seeders: null, leechers: null, completed: null, ms: 0 }),
    ]).trackers;
    expect(rows.map((r) => r.family)).toEqual([4, 6, null]);
  });

  it('says per row whether the answer came from the cache and when the tracker gave it (ISO 8601)', () => {
    const answeredAt = Date.UTC(2024, 4, 1, 11, 57, 0);
    const [cached, fresh, none, broken] = jsonResult(torrent(), [
      stat({ cached: true, ms: 0, answeredAt }),
      stat({ cached: false, answeredAt: answeredAt + 1 }),
      stat({ status: 'timeout', seeders: null, leechers: null, completed: null, answeredAt: null }),
      stat({ answeredAt: Number.NaN }),
    ]).trackers;
    expect(cached).toMatchObject({ cached: true, answeredAt: '2024-05-01T11:57:00.000Z', ms: 0 });
    expect(fresh).toMatchObject({ cached: false, answeredAt: '2024-05-01T11:57:00.001Z' });
    expect(none).toMatchObject({ cached: false, answeredAt: null });
    expect(broken?.answeredAt).toBeNull();
  });
});

describe('piecesAfterSlash', () => {
  it('cuts after every slash, exactly as the lookbehind split does', () => {
    for (const text of ['', 'a', 'a/', '/a', 'a//b', 'dir/sub/file.mkv', '///', 'ünï/cødé/名前']) {
      expect(piecesAfterSlash(text)).toEqual(text.split(/(?<=\/)/));
    }
    expect(piecesAfterSlash('dir/sub/file.mkv')).toEqual(['dir/', 'sub/', 'file.mkv']);
  });
});
