import { describe, expect, it } from 'vitest';
import { REDACTED, redactUrl, redactUrlsIn } from '../../src/scrape/log.js';

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
