// The viewer page (web/) in Debian's Chromium, headless, against a real
// framecast on a loopback port: frames decode onto every tile (VP8 through
// WebCodecs, which `auto` picks here; JPEG when a tile asks for it), counters
// move, pause really unsubscribes, a hidden tab unsubscribes, and the page
// finds the server again after a restart on the same port. Screenshots go to
// the build directory (FRAMECAST_ARTIFACTS).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { Server, FIXTURES, until } from '../lib/server.mjs';

const ARTIFACTS = process.env.FRAMECAST_ARTIFACTS || 'build';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
// Small streams so two cores keep up: two procedural cameras and one that
// pans over a photo with face detection on.
const ARGS = ['--synthetic', '2', '--source', `synthetic:image=${FIXTURES}face-astronaut.png,detect`,
  '--size', '320x180', '--fps', '15'];
// Flags that keep Chromium from talking to anything but the page's server.
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

// What each tile shows, read from the page's DOM.
const readTiles = (page) => page.$$eval('.tile', (els) => els.map((el) => ({
  id: el.dataset.stream,
  state: el.dataset.state,
  frames: Number(el.querySelector('.v-frames').textContent),
  fps: parseFloat(el.querySelector('.v-fps').textContent),
  latency: el.querySelector('.v-latency').textContent,
  tier: el.querySelector('.v-tier').textContent,
  size: el.querySelector('.v-size').textContent,
})));

// Per tile: how many distinct colours a sample of the canvas has. A canvas
// nothing was drawn on is a single colour.
const canvasColours = (page) => page.$$eval('.tile .frame', (canvases) => canvases.map((c) => {
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  const seen = new Set();
  for (let i = 0; i < d.length; i += 4 * 97) seen.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
  return seen.size;
}));

// Per tile: a hash of a sample of the canvas, to tell pictures apart.
const canvasHashes = (page) => page.$$eval('.tile .frame', (canvases) => canvases.map((c) => {
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let h = 0;
  for (let i = 0; i < d.length; i += 4 * 13) h = (Math.imul(h, 31) + d[i] + (d[i + 1] << 8)) | 0;
  return h;
}));

const subscribers = async (server) =>
  Object.fromEntries((await server.json('/api/streams')).map((s) => [s.id, s.subscribers]));

test('viewer page in headless Chromium', { timeout: 120000 }, async (t) => {
  let server = await new Server(ARGS).start();
  const userDataDir = await mkdtemp(join(tmpdir(), 'framecast-chromium-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS,
      viewport: { width: 1280, height: 720 },
    });
    const page = context.pages()[0] || await context.newPage();
    const origin = server.http;
    const requests = [], sockets = [], problems = [], pageErrors = [];
    context.on('request', (r) => requests.push(r.url()));
    page.on('websocket', (ws) => sockets.push(ws.url()));
    page.on('pageerror', (e) => pageErrors.push(e.message));
    // Errors include CSP violations and failed loads. (Warnings are left out:
    // Chromium warns about this test's own repeated getImageData.)
    page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });

    const streams = await server.json('/api/streams');
    const ids = streams.map((s) => s.id);

    await t.test('every tile shows a decoded frame', async () => {
      await page.goto(origin + '/');
      // The page builds its tiles once /api/streams has answered: wait for
      // them rather than read the DOM the moment the page has loaded.
      const tileIds = () => page.$$eval('.tile', (els) => els.map((e) => e.dataset.stream));
      await until(async () => (await tileIds()).length === ids.length,
        { timeoutMs: 10000, what: 'a tile per stream' });
      assert.deepEqual(await tileIds(), ids);
      await until(async () => (await readTiles(page)).every((x) => x.state === 'live'),
        { timeoutMs: 10000, what: 'every tile live' });
      await until(async () => (await canvasColours(page)).every((n) => n > 8),
        { timeoutMs: 10000, what: 'a non-uniform picture on every canvas' });
    });

    await t.test('auto picks VP8, decoded by WebCodecs: changing pictures, no decoder errors', async () => {
      const codecs = await page.$$eval('.tile', (els) => els.map((e) => [e.dataset.codec, e.querySelector('.v-codec').textContent]));
      assert.deepEqual(codecs, ids.map(() => ['vp8', 'vp8']));
      for (const id of ids)
        assert.equal(await server.metric('fc_stream_outputs', { stream: id, view: 'full', codec: 'vp8' }), 1, id);
      // Every tile paints new pictures: its canvas changes, more than once.
      for (let round = 0; round < 3; round++) {
        const before = await canvasHashes(page);
        await until(async () => (await canvasHashes(page)).every((h, i) => h !== before[i]),
          { timeoutMs: 5000, what: 'a new picture on every VP8 tile' });
      }
      await until(async () => (await page.$$eval('.tile .v-kbps', (els) => els.map((e) => Number(e.textContent)))).every((k) => k > 0),
        { timeoutMs: 5000, what: 'kbps above 0 on every tile' });
      const errors = await page.$$eval('.tile', (els) => els.map((e) => e.dataset.decodeErrors || '0'));
      assert.deepEqual(errors, ids.map(() => '0'), 'VP8 decoders given up');
    });

    await t.test('a VP8 tile on the low tier shows the half-size picture over the whole canvas', async () => {
      const tile = page.locator(`.tile[data-stream="${ids[1]}"]`);
      await tile.locator('.s-quality').selectOption('low');
      await until(async () => (await tile.locator('.v-size').textContent()) === '160×90',
        { timeoutMs: 10000, what: 'the low tier\'s 160x90 pictures' });
      assert.equal(await tile.locator('.v-tier').textContent(), 'low');
      const before = (await canvasHashes(page))[1];
      await until(async () => (await canvasHashes(page))[1] !== before, { timeoutMs: 5000, what: 'low-tier pictures painted' });
      assert.equal(await tile.locator('.frame').evaluate((c) => `${c.width}x${c.height}`), '320x180');
      await tile.locator('.s-quality').selectOption('auto');
      await until(async () => (await tile.locator('.v-size').textContent()) === '320×180', { timeoutMs: 10000, what: 'back to high' });
    });

    await t.test('a tile switched to JPEG decodes JPEG, and its stream stops encoding VP8', async () => {
      const tile = page.locator(`.tile[data-stream="${ids[0]}"]`);
      await tile.locator('.s-codec').selectOption('jpeg');
      await until(async () => (await tile.getAttribute('data-codec')) === 'jpeg' &&
        (await tile.locator('.v-codec').textContent()) === 'jpeg', { timeoutMs: 5000, what: 'the tile on JPEG' });
      const before = (await canvasHashes(page))[0];
      await until(async () => (await canvasHashes(page))[0] !== before, { timeoutMs: 5000, what: 'JPEG pictures painted' });
      await until(async () => (await server.metric('fc_stream_outputs', { stream: ids[0], view: 'full', codec: 'vp8' })) === 0,
        { timeoutMs: 5000, what: `${ids[0]}'s VP8 output closed` });
      assert.equal(await server.metric('fc_stream_outputs', { stream: ids[0], view: 'full', codec: 'jpeg' }), 1);
      await tile.locator('.s-codec').selectOption('auto');
      await until(async () => (await tile.getAttribute('data-codec')) === 'vp8', { timeoutMs: 5000, what: 'back on VP8' });
    });

    await t.test('the face stream shows boxes and track ids from detection events', async () => {
      const face = ids[2];
      const sel = `.tile[data-stream="${face}"]`;
      await until(async () => /^1 \(#\d+\)$/.test(await page.$eval(`${sel} .v-faces`, (e) => e.textContent)),
        { timeoutMs: 10000, what: 'one tracked face in the overlay' });
      // Shown only for streams with detection.
      assert.equal(await page.isVisible(`${sel} .faces-stat`), true);
      assert.equal(await page.isVisible(`.tile[data-stream="${ids[0]}"] .faces-stat`), false);
      // The box is drawn: the middle of its left edge is the box colour on the
      // canvas (sampled after a fresh paint).
      await until(async () => page.$eval(sel, (el) => {
        const [f] = JSON.parse(el.dataset.faces || '[]');
        if (!f) return false;
        const c = el.querySelector('.frame');
        const [x, y, , h] = f.box;
        const d = c.getContext('2d').getImageData(Math.round(x), Math.round(y + h / 2), 1, 1).data;
        return d[0] < 120 && d[1] > 200 && d[2] < 120; // #39ff14
      }), { timeoutMs: 5000, what: 'a green box edge on the face' });
    });

    await t.test('overlay counters advance and fps is above 0', async () => {
      await until(async () => (await readTiles(page)).every((x) => x.fps > 0),
        { timeoutMs: 5000, what: 'fps above 0 on every tile' });
      const before = await readTiles(page);
      // Two chart ticks later (the page updates its numbers once a second).
      await until(async () => (await readTiles(page)).every((x, i) => x.frames > before[i].frames + 10),
        { timeoutMs: 5000, what: 'frame counters advancing on every tile' });
      await until(async () => (await readTiles(page)).every((x) => x.fps > 0),
        { timeoutMs: 5000, what: 'fps above 0 on every tile' });
      const after = await readTiles(page);
      for (const [i, x] of after.entries()) {
        assert.ok(x.frames > before[i].frames, `${x.id}: frame counter ${before[i].frames} -> ${x.frames}`);
        assert.ok(x.fps > 0, `${x.id}: fps ${x.fps}`);
        assert.match(x.latency, /^-?\d+ ms$/, `${x.id}: latency "${x.latency}"`);
        assert.equal(x.size, '320×180', `${x.id}: size`);
        // Asked for auto; the server says the frames are high (nothing backs up here).
        assert.equal(x.tier, 'auto→high', `${x.id}: tier`);
      }
      assert.deepEqual(Object.values(await subscribers(server)), ids.map(() => 1));
      await page.screenshot({ path: join(ARTIFACTS, 'viewer-1280x720.png') });
    });

    await t.test('reads on a 390x844 phone viewport', async () => {
      await page.setViewportSize({ width: 390, height: 844 });
      // The next chart tick redraws every chart at its new width.
      await until(() => page.$$eval('.tile .chart', (cs) => cs.every((c) =>
        c.width === Math.max(1, Math.round(c.clientWidth * (window.devicePixelRatio || 1))))),
      { timeoutMs: 5000, what: 'charts redrawn at the phone width' });
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `page is ${overflow}px wider than the phone viewport`);
      await page.screenshot({ path: join(ARTIFACTS, 'viewer-390x844.png') });
      await page.setViewportSize({ width: 1280, height: 720 });
    });

    await t.test('a click enlarges a tile', async () => {
      const tile = page.locator(`.tile[data-stream="${ids[2]}"]`);
      const small = await tile.locator('.frame').boundingBox();
      await tile.locator('.frame').click();
      await until(() => tile.evaluate((el) => el.classList.contains('enlarged')), { what: 'enlarged class' });
      const big = await tile.locator('.frame').boundingBox();
      assert.ok(big.width > small.width * 1.5, `enlarged width ${big.width} vs ${small.width}`);
      await page.screenshot({ path: join(ARTIFACTS, 'viewer-enlarged-1280x720.png') });
      await page.keyboard.press('Escape');
      await until(() => tile.evaluate((el) => !el.classList.contains('enlarged')), { what: 'shrunk again' });
    });

    await t.test('pausing a tile unsubscribes it on the server', async () => {
      const pause = page.locator(`.tile[data-stream="${ids[0]}"] .b-pause`);
      await pause.click();
      await until(async () => (await subscribers(server))[ids[0]] === 0,
        { timeoutMs: 5000, what: `${ids[0]} subscribers 0` });
      assert.equal((await subscribers(server))[ids[1]], 1, 'the other streams stay subscribed');
      assert.equal(await pause.getAttribute('aria-pressed'), 'true');
      await pause.click();
      await until(async () => (await subscribers(server))[ids[0]] === 1,
        { timeoutMs: 5000, what: `${ids[0]} subscribed again` });
      await until(async () => (await readTiles(page))[0].state === 'live', { what: 'resumed tile live' });
    });

    await t.test('a hidden tab unsubscribes every stream', async () => {
      // Headless Chromium keeps its only tab visible; flip what the page sees
      // and send the event the browser would.
      const setHidden = (hidden) => page.evaluate((h) => {
        Object.defineProperty(document, 'hidden', { configurable: true, get: () => h });
        Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => (h ? 'hidden' : 'visible') });
        document.dispatchEvent(new Event('visibilitychange'));
      }, hidden);
      await setHidden(true);
      await until(async () => Object.values(await subscribers(server)).every((n) => n === 0),
        { timeoutMs: 5000, what: 'no subscribers while hidden' });
      await setHidden(false);
      await until(async () => Object.values(await subscribers(server)).every((n) => n === 1),
        { timeoutMs: 5000, what: 'subscribed again when visible' });
    });

    await t.test('the page reconnects after the server restarts', async () => {
      assert.deepEqual(pageErrors, [], 'uncaught errors in the page');
      assert.deepEqual(problems, [], 'console errors before the restart');
      const port = server.port;
      const code = await server.stop();
      assert.equal(code, 0, `server exit ${code}:\n${server.log}`);
      await until(async () => (await readTiles(page)).every((x) => x.state === 'reconnecting'),
        { timeoutMs: 5000, what: 'tiles reconnecting' });
      // The page has retried against the closed port and failed at least
      // once: its status names a second attempt.
      await until(async () => /attempt [2-9]/.test(await page.$eval('#status', (e) => e.textContent)),
        { timeoutMs: 10000, what: 'a failed retry while the server is down' });
      server = await new Server(ARGS, { port }).start();
      await until(async () => (await readTiles(page)).every((x) => x.state === 'live'),
        { timeoutMs: 15000, what: 'every tile live after the restart' });
      const before = await readTiles(page);
      await until(async () => (await readTiles(page)).every((x, i) => x.frames > before[i].frames),
        { timeoutMs: 5000, what: 'frames flowing after the restart' });
      assert.deepEqual(Object.values(await subscribers(server)), ids.map(() => 1));
      assert.deepEqual(pageErrors, [], 'uncaught errors in the page');
    });

    await t.test('the page fetched nothing but its own server', () => {
      const foreign = [...requests, ...sockets].filter((u) => !u.startsWith(origin + '/') && !u.startsWith(server.ws + '/'));
      assert.deepEqual(foreign, []);
      assert.ok(requests.some((u) => u.endsWith('/viewer.js')) && sockets.length >= ids.length);
    });
  } finally {
    await context?.close();
    await server.stop();
    await rm(userDataDir, { recursive: true, force: true });
  }
});
