import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BrowserContext, chromium, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

/** The few browser globals the page scripts below use (the project compiles without the DOM lib). */
interface BrowserGlobals {
  getComputedStyle(el: unknown): { textAlign: string; fontVariantNumeric: string };
  DataTransfer: new () => { items: { add(file: unknown): void } };
  File: new (parts: unknown[], name: string, options: { type: string }) => unknown;
  DragEvent: new (type: string, init: { dataTransfer: unknown; bubbles: boolean; cancelable?: boolean }) => unknown;
  document: { body: { dispatchEvent(event: unknown): boolean } };
}

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
    for (const [size, viewport] of Object.entries(VIEWPORTS)) {
      await page.setViewportSize(viewport);
      for (const colorScheme of ['light', 'dark'] as const) {
        await page.emulateMedia({ colorScheme });
        await page.screenshot({ path: join(ARTIFACTS, `${name}-${size}-${colorScheme}.png`), fullPage: true });
        if (size === 'phone') {
          // The first screen at full resolution: what a person sees before scrolling.
          await page.screenshot({ path: join(ARTIFACTS, `${name}-${size}-${colorScheme}-first-screen.png`) });
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

  it('shows errors as a readable page', async () => {
    const page = await context.newPage();
    await page.goto(`${base}/`);
    const png = join(profileDir, 'holiday.torrent');
    await writeFile(png, Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'));
    await page.setInputFiles('#torrent-file', png);
    await Promise.all([page.waitForURL(`${base}/scrape`), page.click('button[type="submit"]')]);
    await expect(shown(page.locator('h1'))).resolves.toBe('Not a torrent file');
    await expect(shown(page.locator('.problem-message'))).resolves.toContain('This is not a torrent file');
    await screenshots(page, 'error');
    await page.close();
  });
});
