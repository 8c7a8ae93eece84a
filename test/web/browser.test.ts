import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BrowserContext, chromium, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScrapeCache } from '../../src/scrape/index.js';
import { announcePeers, type BtTracker, startBtTracker } from '../support/trackers.js';
import { buildApp, makeTorrent, type TestTorrent } from './support.js';

/**
 * A real browser (Debian's chromium through playwright-core) uploads a real torrent through the
 * real form and reads the rendered table; screenshots of every page at desktop and phone width, in
 * light and dark, land in test-artifacts/ for a person to look at.
 */

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
  '--no-first-run',
];
const VIEWPORTS = {
  desktop: { width: 1280, height: 900 },
  phone: { width: 390, height: 844 },
} as const;
const SWARM = { seeders: 12, leechers: 5, completed: 0 };
/** Short deadline so the black-hole tracker's row turns into "Timed out" quickly. */
const SCRAPE_TIMEOUT_MS = 1500;
/** Deadline where every tracker must answer: a loaded machine can take over 1.5 s for a loopback scrape. */
const ANSWERING_SCRAPE_TIMEOUT_MS = 10_000;

/** The few browser globals the page scripts below use (the project compiles without the DOM lib). */
interface BrowserGlobals {
  getComputedStyle(el: unknown): { textAlign: string; fontVariantNumeric: string };
  DataTransfer: new () => { items: { add(file: unknown): void } };
  File: new (parts: unknown[], name: string, options: { type: string }) => unknown;
  DragEvent: new (type: string, init: { dataTransfer: unknown; bubbles: boolean; cancelable?: boolean }) => unknown;
  document: { body: { dispatchEvent(event: unknown): boolean } };
}

/** What LAYOUT_PROBE reports about the page as laid out at the current viewport. */
interface Layout {
  /** The page is wider than the viewport (something sticks out sideways). */
  pageOverflow: number;
  /** Names in file paths (the runs between spaces and "/") drawn on more than one line. */
  splitPathNames: string[];
  /** Lines the longest path takes, so a test knows paths did wrap. */
  maxPathLines: number;
  /** Info-hashes: drawn on one line, and how far each is wider than its box (0: it fits). */
  hashes: { lines: number; hiddenWidth: number }[];
  /** Distinct widths of the protocol badges, and distinct left edges of the URLs after them. */
  protoWidths: number[];
  urlLefts: number[];
  /** Per tracker row: the tier as shown (with its ::before label), and whether it shares the status's line. */
  tiers: { visible: boolean; label: string; besideStatus: boolean }[];
  /** Count cells: alignment and figures. */
  countCells: { align: string; figures: string }[];
  /** Per total: room left between the label's end and the card's padding edge (negative: it runs into it). */
  statLabelRoom: number[];
  /** Per short fact: baseline difference between label and value, and whether they sit side by side. */
  facts: { label: string; baselineGap: number; sideBySide: boolean }[];
}

/**
 * Measures the laid-out page (a string, run by the browser: the project compiles without the DOM
 * lib). A baseline is found as the bottom of an empty inline-block, which sits on it.
 */
const LAYOUT_PROBE = `(() => {
  const textNodes = (el) => {
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    const nodes = [];
    for (let n = walker.nextNode(); n; n = walker.nextNode()) nodes.push(n);
    return nodes;
  };
  const lineTops = (node, start, end) => {
    const range = document.createRange();
    range.setStart(node, start);
    range.setEnd(node, end);
    return new Set([...range.getClientRects()].filter((r) => r.width > 0).map((r) => Math.round(r.top)));
  };
  const linesOf = (el) => {
    const tops = new Set();
    for (const n of textNodes(el)) for (const top of lineTops(n, 0, n.length)) tops.add(top);
    return tops.size;
  };
  const baseline = (el) => {
    const marker = document.createElement('span');
    marker.style.display = 'inline-block';
    el.prepend(marker);
    const y = marker.getBoundingClientRect().bottom;
    marker.remove();
    return y;
  };
  const visible = (el) => getComputedStyle(el).display !== 'none';
  const paths = [...document.querySelectorAll('.file-table .path')];
  const splitPathNames = [];
  for (const cell of paths) {
    for (const n of textNodes(cell)) {
      for (const m of n.data.matchAll(/[^\\s/]+/g)) {
        if (lineTops(n, m.index, m.index + m[0].length).size > 1) splitPathNames.push(m[0]);
      }
    }
  }
  const facts = [];
  for (const dt of document.querySelectorAll('.facts dt:not(.wide)')) {
    const dd = dt.nextElementSibling;
    facts.push({
      label: dt.textContent.trim(),
      baselineGap: Math.abs(baseline(dt) - baseline(dd)),
      sideBySide: dd.getBoundingClientRect().left >= dt.getBoundingClientRect().right,
    });
  }
  return {
    pageOverflow: document.documentElement.scrollWidth - window.innerWidth,
    splitPathNames,
    maxPathLines: Math.max(0, ...paths.map(linesOf)),
    hashes: [...document.querySelectorAll('code.hash')].map((el) => ({ lines: linesOf(el), hiddenWidth: el.scrollWidth - el.clientWidth })),
    protoWidths: [...new Set([...document.querySelectorAll('.proto')].map((el) => Math.round(el.getBoundingClientRect().width)))],
    urlLefts: [...new Set([...document.querySelectorAll('.tracker-table .url')].map((el) => Math.round(el.getBoundingClientRect().left)))],
    tiers: [...document.querySelectorAll('.tracker-table tbody tr')].map((row) => {
      const tier = row.querySelector('.tier');
      const status = row.querySelector('.status-cell');
      const before = getComputedStyle(tier, '::before').content;
      return {
        visible: visible(tier),
        label: (before === 'none' ? '' : JSON.parse(before)) + tier.textContent.trim(),
        besideStatus: Math.abs(tier.getBoundingClientRect().top - status.getBoundingClientRect().top) < 12,
      };
    }),
    countCells: [...document.querySelectorAll('.tracker-table td.count-cell')].map((el) => {
      const css = getComputedStyle(el);
      return { align: css.textAlign, figures: css.fontVariantNumeric };
    }),
    statLabelRoom: [...document.querySelectorAll('.stat')].map((stat) => {
      const label = stat.querySelector('.stat-label');
      const range = document.createRange();
      range.selectNodeContents(label);
      const inner = stat.getBoundingClientRect().right - parseFloat(getComputedStyle(stat).paddingRight);
      return Math.round(inner - range.getBoundingClientRect().right);
    }),
    facts,
  };
})()`;

/** How the upload page's placeholder fits its field: spare pixels (negative: cut off). */
const PLACEHOLDER_PROBE = `(() => {
  const input = document.getElementById('magnet-input');
  const css = getComputedStyle(input);
  const context = document.createElement('canvas').getContext('2d');
  context.font = css.font;
  const room = input.clientWidth - parseFloat(css.paddingLeft) - parseFloat(css.paddingRight);
  return room - context.measureText(input.placeholder).width;
})()`;

/** Left and right edges of the error card and of the form under it. */
const RETRY_COLUMN_PROBE = `(() => {
  const edges = (el) => { const box = el.getBoundingClientRect(); return [Math.round(box.left), Math.round(box.right)]; };
  return { card: edges(document.querySelector('.problem')), form: edges(document.getElementById('upload-form')) };
})()`;

/** Where the error card sits in the page column: space left and right of it. */
const CARD_MARGINS_PROBE = `(() => {
  const card = document.querySelector('.problem').getBoundingClientRect();
  const main = document.querySelector('main');
  const css = getComputedStyle(main);
  const box = main.getBoundingClientRect();
  return { left: card.left - (box.left + parseFloat(css.paddingLeft)), right: box.right - parseFloat(css.paddingRight) - card.right };
})()`;

const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI) throw new Error(`${CHROMIUM} is missing: install the chromium package`);

describe.skipIf(!haveChromium)('the upload form in a real browser', () => {
  let tracker: BtTracker;
  let torrent: TestTorrent;
  let server: Server;
  let blackHole: TcpServer;
  const blackHoleSockets: Socket[] = [];
  let base: string;
  let profileDir: string;
  let torrentPath: string;
  /** A PNG named like a torrent. */
  let pngPath: string;
  let context: BrowserContext;
  const cspViolations: string[] = [];

  beforeAll(async () => {
    tracker = await startBtTracker();
    blackHole = createTcpServer((socket) => blackHoleSockets.push(socket));
    await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
    const blackHolePort = (blackHole.address() as { port: number }).port;
    torrent = makeTorrent({
      name: 'Big Buck Bunny (2008) 1080p.mkv',
      pieceLength: 256 * 1024,
      files: [
        { path: ['Big Buck Bunny 1080p.mkv'], length: 276_134_947 },
        { path: ['Subtitles', 'English.srt'], length: 18_422 },
        { path: ['poster.jpg'], length: 211_301 },
      ],
      announceList: [
        [tracker.httpAnnounce, tracker.udpAnnounce],
        [`http://127.0.0.1:${blackHolePort}/announce`],
        ['http://127.0.0.1:9/announce', 'https://tracker.example.org/stats'],
      ],
      comment: 'Blender Foundation open movie — https://peach.blender.org/',
      createdBy: 'mktorrent 1.1',
      creationDate: 1_700_000_000,
      urlList: ['https://download.blender.org/peach/'],
    });
    await announcePeers(tracker.httpAnnounce, torrent.infoHashBytes, SWARM);

    const { app } = buildApp({ scrapeTimeoutMs: SCRAPE_TIMEOUT_MS });
    server = createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;

    profileDir = await mkdtemp(join(tmpdir(), 'trackerscope-chromium-'));
    torrentPath = join(profileDir, 'big-buck-bunny.torrent');
    await writeFile(torrentPath, torrent.bytes);
    pngPath = join(profileDir, 'holiday.torrent');
    await writeFile(pngPath, Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'));
    await mkdir(ARTIFACTS, { recursive: true });
    context = await chromium.launchPersistentContext(join(profileDir, 'profile'), {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: VIEWPORTS.desktop,
    });
    context.on('console', (message) => {
      if (/Content Security Policy|Refused to/i.test(message.text())) cspViolations.push(message.text());
    });
  }, 60_000);

  afterAll(async () => {
    await context?.close();
    for (const socket of blackHoleSockets) socket.destroy();
    await new Promise((r) => blackHole?.close(() => r(undefined)));
    await new Promise((r) => server?.close(() => r(undefined)));
    await tracker?.stop();
    if (profileDir) await rm(profileDir, { recursive: true, force: true });
  });

  async function screenshots(page: Page, name: string): Promise<void> {
    // Web fonts (none today, but a theme may add them) drawn before the first picture.
    await page.waitForFunction('document.fonts.status === "loaded"');
    for (const [size, viewport] of Object.entries(VIEWPORTS)) {
      await page.setViewportSize(viewport);
      for (const colorScheme of ['light', 'dark'] as const) {
        await page.emulateMedia({ colorScheme });
        // Switching the colour scheme starts the page's colour transitions; 'disabled' finishes
        // them first, so a dark screenshot shows the dark page and not a frame halfway there.
        const options = { animations: 'disabled', caret: 'hide' } as const;
        await page.screenshot({ ...options, path: join(ARTIFACTS, `${name}-${size}-${colorScheme}.png`), fullPage: true });
        if (size === 'phone') {
          // The first screen at full resolution: what a person sees before scrolling.
          await page.screenshot({ ...options, path: join(ARTIFACTS, `${name}-${size}-${colorScheme}-first-screen.png`) });
        }
      }
    }
    await page.setViewportSize(VIEWPORTS.desktop);
    await page.emulateMedia({ colorScheme: 'light' });
  }

  /** The text as rendered for a person (innerText), which is what this test is about. */
  function shown(locator: Locator): Promise<string> {
    // biome-ignore lint/performance/useDomNodeTextContent: the rendered text is the point of a browser test
    return locator.innerText();
  }

  function cellTexts(page: Page, row: number): Promise<string[]> {
    return page.locator('.tracker-table tbody tr').nth(row).locator('td').allInnerTexts();
  }

  it('uploads a torrent through the form and renders the tracker table', async () => {
    const page = await context.newPage();
    await page.goto(`${base}/`);
    await expect(page.title()).resolves.toBe('Tracker stats for any torrent · trackerscope');
    await screenshots(page, 'index');

    await page.setInputFiles('#torrent-file', torrentPath);
    await expect(shown(page.locator('#chosen-file'))).resolves.toMatch(/^big-buck-bunny\.torrent · [\d.]+ (B|KiB)$/);
    await Promise.all([page.waitForURL(`${base}/scrape`), page.click('button[type="submit"]')]);

    await expect(shown(page.locator('h1.torrent-name'))).resolves.toBe('Big Buck Bunny (2008) 1080p.mkv');
    await expect(shown(page.locator('#total-seeders'))).resolves.toBe('12');
    await expect(shown(page.locator('#total-leechers'))).resolves.toBe('5');
    await expect(shown(page.locator('#total-completed'))).resolves.toBe('12');

    const rows = page.locator('.tracker-table tbody tr');
    await expect(rows.count()).resolves.toBe(5);
    const [tier, trackerCell, status, seeders, leechers, completed] = await cellTexts(page, 0);
    expect(tier).toBe('1');
    expect(trackerCell).toContain(tracker.httpAnnounce);
    expect(status).toBe('OK');
    expect([seeders, leechers, completed]).toEqual(['12', '5', '12']);
    const udpCells = await cellTexts(page, 1);
    expect(udpCells[1]).toContain('UDP');
    expect(udpCells.slice(2, 6)).toEqual(['OK', '12', '5', '12']);
    await expect(cellTexts(page, 2)).resolves.toEqual(expect.arrayContaining(['Timed out', '—']));
    await expect(cellTexts(page, 3)).resolves.toEqual(expect.arrayContaining(['Error']));
    await expect(cellTexts(page, 4)).resolves.toEqual(expect.arrayContaining(['No scrape']));

    // Numbers are right-aligned in tabular figures.
    const style = await page
      .locator('.tracker-table tbody tr')
      .first()
      .locator('td.count-cell')
      .first()
      .evaluate((el) => {
        const css = (globalThis as unknown as BrowserGlobals).getComputedStyle(el);
        return { align: css.textAlign, figures: css.fontVariantNumeric };
      });
    expect(style).toEqual({ align: 'right', figures: 'tabular-nums' });

    // app.js ran (the copy buttons are revealed) and nothing was refused by the CSP.
    await expect(page.locator('button.copy').first().isVisible()).resolves.toBe(true);
    await expect(page.locator('.file-table tbody tr').count()).resolves.toBe(3);
    await screenshots(page, 'result');
    expect(cspViolations).toEqual([]);
    await page.close();
  });

  it('accepts a .torrent dropped anywhere on the page', async () => {
    const page = await context.newPage();
    await page.goto(`${base}/`);
    const bytes = [...torrent.bytes];
    await Promise.all([
      page.waitForURL(`${base}/scrape`),
      page.evaluate((data) => {
        const { DataTransfer, File, DragEvent, document } = globalThis as unknown as BrowserGlobals;
        const transfer = new DataTransfer();
        transfer.items.add(new File([new Uint8Array(data)], 'dropped.torrent', { type: 'application/x-bittorrent' }));
        document.body.dispatchEvent(new DragEvent('dragenter', { dataTransfer: transfer, bubbles: true }));
        document.body.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
      }, bytes),
    ]);
    await expect(shown(page.locator('#total-seeders'))).resolves.toBe('12');
    await page.close();
  });

  it('the live link opens a permalink page that counts down to its next update', async () => {
    const page = await context.newPage();
    const magnet = `magnet:?xt=urn:btih:${torrent.infoHash}&dn=${encodeURIComponent('Big Buck Bunny')}&tr=${encodeURIComponent(tracker.httpAnnounce)}`;
    await page.goto(`${base}/`);
    await page.fill('#magnet-input', magnet);
    await Promise.all([page.waitForURL(`${base}/scrape`), page.click('button[type="submit"]')]);
    await Promise.all([page.waitForURL(/\/scrape\?magnet=/), page.click('text=Live page for this torrent')]);
    await expect(shown(page.locator('#refresh-status'))).resolves.toMatch(/^Next update in \d+ s\.$/);
    await expect(shown(page.locator('#total-seeders'))).resolves.toBe('12');
    await screenshots(page, 'permalink');
    await page.close();
  });

  it('shows a bad upload as a readable page with the form again, and a retry from it works', async () => {
    const page = await context.newPage();
    await page.goto(`${base}/`);
    await page.setInputFiles('#torrent-file', pngPath);
    await Promise.all([page.waitForURL(`${base}/scrape`), page.click('button[type="submit"]')]);
    await expect(shown(page.locator('h1'))).resolves.toBe('Not a torrent file');
    // The heading says it; the message goes straight to the reason instead of saying it again.
    const message = await shown(page.locator('.problem-message'));
    expect(message).toMatch(/^The content of "holiday\.torrent" \(sent as application\/x-bittorrent\) looks like a PNG image\./);
    expect(message).not.toMatch(/not a torrent file/i);
    // The code is there for a bug report, folded away.
    await expect(page.locator('.problem-details').getAttribute('open')).resolves.toBeNull();
    await expect(page.getByText('NOT_A_TORRENT').isVisible()).resolves.toBe(false);
    await page.locator('.problem-details summary').click();
    await expect(page.getByText('NOT_A_TORRENT').isVisible()).resolves.toBe(true);
    await expect(shown(page.locator('.problem-details'))).resolves.toContain('Error 415');
    await page.locator('.problem-details summary').click();

    // The way on is the upload form itself, under the message, in the same column.
    await expect(shown(page.locator('#retry-heading'))).resolves.toBe('Try again');
    await expect(page.locator('#upload-form').isVisible()).resolves.toBe(true);
    await expect(page.locator('.problem-actions').count()).resolves.toBe(0);
    const margins = (await page.evaluate(CARD_MARGINS_PROBE)) as { left: number; right: number };
    expect(margins.left).toBeGreaterThan(100);
    expect(Math.abs(margins.left - margins.right)).toBeLessThanOrEqual(1);
    const column = (await page.evaluate(RETRY_COLUMN_PROBE)) as { card: number[]; form: number[] };
    expect(column.form).toEqual(column.card);
    await screenshots(page, 'error');
    for (const viewport of Object.values(VIEWPORTS)) {
      await page.setViewportSize(viewport);
      expect(((await page.evaluate(LAYOUT_PROBE)) as Layout).pageOverflow).toBeLessThanOrEqual(0);
    }
    await page.setViewportSize(VIEWPORTS.desktop);

    // The script works here as on the home page: the chosen file is shown, and it goes through.
    await page.setInputFiles('#torrent-file', torrentPath);
    await expect(shown(page.locator('#chosen-file'))).resolves.toMatch(/^big-buck-bunny\.torrent · /);
    await Promise.all([page.waitForURL(`${base}/scrape`), page.click('button[type="submit"]')]);
    await expect(shown(page.locator('h1.torrent-name'))).resolves.toBe('Big Buck Bunny (2008) 1080p.mkv');
    await expect(shown(page.locator('#total-seeders'))).resolves.toBe('12');
    expect(cspViolations).toEqual([]);
    await page.close();
  });

  it('puts a bad magnet link back into its field, marked, to be corrected and sent again', async () => {
    const page = await context.newPage();
    await page.goto(`${base}/`);
    const typo = `magnet:?xt=urn:btih:${torrent.infoHash.slice(0, 39)}&tr=${encodeURIComponent(tracker.httpAnnounce)}`;
    await page.fill('#magnet-input', typo);
    await Promise.all([page.waitForURL(`${base}/scrape`), page.click('button[type="submit"]')]);
    await expect(shown(page.locator('h1'))).resolves.toBe('Not a magnet link or info-hash');
    const field = page.locator('#magnet-input');
    await expect(field.inputValue()).resolves.toBe(typo);
    await expect(field.getAttribute('aria-invalid')).resolves.toBe('true');
    // Screen readers read the reason with the field: it describes the field.
    const describedBy = await field.getAttribute('aria-describedby');
    await expect(shown(page.locator(`#${describedBy}`))).resolves.toBe('The info-hash after urn:btih must be 40 hex digits or 32 base32 characters.');
    await screenshots(page, 'error-magnet');

    await field.fill(typo.replace(torrent.infoHash.slice(0, 39), torrent.infoHash));
    // Edited, it is no longer marked as the problem.
    await expect(field.getAttribute('aria-invalid')).resolves.toBeNull();
    await Promise.all([page.waitForURL(`${base}/scrape`), page.click('button[type="submit"]')]);
    await expect(shown(page.locator('#total-seeders'))).resolves.toBe('12');
    await page.close();
  });

  it('says how old figures from the cache are, per tracker and beside the totals', async () => {
    // A server of its own whose cache clock can be turned back: an answer stored while it reads
    // 3 min 20 s early is, once it is put right, an answer from 3 min 20 s ago.
    let clockBehindMs = 0;
    const cache = new ScrapeCache({ ttlMs: 10 * 60_000, now: () => Date.now() - clockBehindMs });
    const aged = createServer(buildApp({ scrapeTimeoutMs: ANSWERING_SCRAPE_TIMEOUT_MS }, { cache }).app);
    await new Promise<void>((resolve) => aged.listen(0, '127.0.0.1', resolve));
    const agedBase = `http://127.0.0.1:${(aged.address() as { port: number }).port}`;
    const page = await context.newPage();
    try {
      const magnet = (trackers: string[]) =>
        `magnet:?xt=urn:btih:${torrent.infoHash}&dn=${encodeURIComponent('Big Buck Bunny')}${trackers.map((t) => `&tr=${encodeURIComponent(t)}`).join('')}`;
      clockBehindMs = 200_000;
      await page.goto(`${agedBase}/`);
      await page.fill('#magnet-input', magnet([tracker.httpAnnounce]));
      await Promise.all([page.waitForURL(`${agedBase}/scrape`), page.click('button[type="submit"]')]);
      // The answer that is to come back from the cache must be a real one.
      await expect(cellTexts(page, 0)).resolves.toEqual(expect.arrayContaining(['OK', '12']));
      clockBehindMs = 0;

      // The HTTP tracker's answer comes from the cache; the UDP tracker is asked now.
      await page.goto(`${agedBase}/`);
      await page.fill('#magnet-input', magnet([tracker.httpAnnounce, tracker.udpAnnounce]));
      await Promise.all([page.waitForURL(`${agedBase}/scrape`), page.click('button[type="submit"]')]);
      await expect(cellTexts(page, 0)).resolves.toEqual(expect.arrayContaining(['OK', '12', 'cached']));
      const age = page.locator('.tracker-table tbody tr').first().locator('.note-age');
      await expect(shown(age)).resolves.toBe('From the cache: answered 3 min ago');
      await expect(age.locator('time').getAttribute('title')).resolves.toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
      await expect(page.locator('.tracker-table tbody tr').nth(1).locator('.note-age').count()).resolves.toBe(0);
      await expect(shown(page.locator('#oldest-answer'))).resolves.toBe(
        'Some figures come from the cache: the oldest was answered by its tracker 3 min ago.',
      );
      for (const viewport of Object.values(VIEWPORTS)) {
        await page.setViewportSize(viewport);
        expect(((await page.evaluate(LAYOUT_PROBE)) as Layout).pageOverflow).toBeLessThanOrEqual(0);
      }
      await page.setViewportSize(VIEWPORTS.desktop);
      await screenshots(page, 'result-cached');
    } finally {
      await page.close();
      await new Promise((resolve) => aged.close(() => resolve(undefined)));
    }
  });

  it('lays the result out cleanly at phone and desktop width', async () => {
    const page = await context.newPage();
    await page.goto(`${base}/`);
    await page.setViewportSize(VIEWPORTS.phone);
    expect(await page.evaluate(PLACEHOLDER_PROBE)).toBeGreaterThanOrEqual(0);
    await page.setInputFiles('#torrent-file', torrentPath);
    await Promise.all([page.waitForURL(`${base}/scrape`), page.click('button[type="submit"]')]);

    const phone = (await page.evaluate(LAYOUT_PROBE)) as Layout;
    expect(phone.pageOverflow).toBeLessThanOrEqual(0);
    // Paths wrap (they are longer than a phone line), but only between names.
    expect(phone.maxPathLines).toBeGreaterThan(1);
    expect(phone.splitPathNames).toEqual([]);
    expect(phone.hashes).toEqual([{ lines: 1, hiddenWidth: 0 }]);
    expect(phone.protoWidths).toHaveLength(1);
    expect(phone.tiers.map((t) => t.label)).toEqual(['Tier 1', 'Tier 1', 'Tier 2', 'Tier 3', 'Tier 3']);
    for (const tier of phone.tiers) expect(tier).toMatchObject({ visible: true, besideStatus: true });
    for (const cell of phone.countCells) expect(cell).toEqual({ align: 'right', figures: 'tabular-nums' });
    for (const room of phone.statLabelRoom) expect(room).toBeGreaterThanOrEqual(4);
    expect(phone.facts.map((f) => f.label)).toEqual(['Size', 'Pieces', 'Private', 'Format', 'Created by', 'Created on']);
    for (const fact of phone.facts) expect(fact, fact.label).toMatchObject({ sideBySide: true });
    for (const fact of phone.facts) expect(fact.baselineGap, fact.label).toBeLessThanOrEqual(1);

    await page.setViewportSize(VIEWPORTS.desktop);
    const desktop = (await page.evaluate(LAYOUT_PROBE)) as Layout;
    expect(desktop.pageOverflow).toBeLessThanOrEqual(0);
    expect(desktop.splitPathNames).toEqual([]);
    expect(desktop.protoWidths).toHaveLength(1);
    expect(desktop.urlLefts).toHaveLength(1);
    for (const fact of desktop.facts) expect(fact.baselineGap, fact.label).toBeLessThanOrEqual(1);
    await page.close();
  });

  it('copies with the old selection API where navigator.clipboard is missing (plain http)', async () => {
    const page = await context.newPage();
    // What a page served over http from a non-local address sees: no clipboard API.
    await page.addInitScript('Object.defineProperty(Navigator.prototype, "clipboard", { get: () => undefined })');
    await page.goto(`${base}/`);
    await page.fill('#magnet-input', torrent.infoHash);
    await Promise.all([page.waitForURL(`${base}/scrape`), page.click('button[type="submit"]')]);
    await expect(page.evaluate('navigator.clipboard === undefined')).resolves.toBe(true);

    const button = page.locator('button.copy[data-copy-target="hash-v1"]');
    await expect(button.isVisible()).resolves.toBe(true);
    await button.click();
    await expect(shown(button)).resolves.toBe('Copied');
    // Said to screen readers too, through the page's one live region.
    await expect.poll(() => shown(page.locator('[role="status"]')), { timeout: 2000 }).toBe('Copied');
    // What landed on the clipboard, read from a page that has the API.
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
    const reader = await context.newPage();
    await reader.goto(`${base}/healthz`);
    await expect(reader.evaluate('navigator.clipboard.readText()')).resolves.toBe(torrent.infoHash);
    await reader.close();
    // The helper text area is gone again, and the button says "Copy" once more.
    await expect(page.locator('textarea.copy-buffer').count()).resolves.toBe(0);
    await expect.poll(() => shown(button), { timeout: 4000 }).toBe('Copy');
    await page.close();
  });

  it('works without JavaScript: upload, results, files; no dead copy buttons', async () => {
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    try {
      const noScript = await browser.newContext({ javaScriptEnabled: false, viewport: VIEWPORTS.phone });
      const page = await noScript.newPage();
      await page.goto(`${base}/`);
      await page.setInputFiles('#torrent-file', torrentPath);
      await Promise.all([page.waitForURL(`${base}/scrape`), page.click('button[type="submit"]')]);
      await expect(shown(page.locator('#total-seeders'))).resolves.toBe('12');
      await expect(page.locator('.tracker-table tbody tr').count()).resolves.toBe(5);
      await expect(page.locator('.file-table tbody tr').first().isVisible()).resolves.toBe(true);
      for (const button of await page.locator('button.copy').all()) await expect(button.isVisible()).resolves.toBe(false);
      const layout = (await page.evaluate(LAYOUT_PROBE)) as Layout;
      expect(layout.splitPathNames).toEqual([]);
      expect(layout.pageOverflow).toBeLessThanOrEqual(0);

      await page.goto(`${base}/`);
      await page.setInputFiles('#torrent-file', pngPath);
      await Promise.all([page.waitForURL(`${base}/scrape`), page.click('button[type="submit"]')]);
      await expect(shown(page.locator('h1'))).resolves.toBe('Not a torrent file');
      // The form on the error page is a plain form too: choose the right file, send it again.
      await page.setInputFiles('#torrent-file', torrentPath);
      await Promise.all([page.waitForURL(`${base}/scrape`), page.click('button[type="submit"]')]);
      await expect(shown(page.locator('#total-seeders'))).resolves.toBe('12');
    } finally {
      await browser.close();
    }
  });
});
