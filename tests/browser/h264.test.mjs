// The viewer with a camera's own H.264 (issue 14 item 4) in Debian's
// Chromium, headless (--headless=new), against a real framecast on a
// loopback port: a file source of H.264 (the test's fixture, looped) and a
// procedural camera. `auto` picks h264 for the H.264 stream where
// VideoDecoder.isConfigSupported says yes for its codec string, and VP8 for
// the procedural one (it offers no h264); the H.264 tile paints changing
// pictures through WebCodecs with no decoder errors, while the server
// decodes nothing for it. Where this Chromium cannot decode H.264, the test
// shows that (isConfigSupported false) and that `auto` falls back to VP8.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { Server, FIXTURES, until } from '../lib/server.mjs';

const ARTIFACTS = process.env.FRAMECAST_ARTIFACTS || 'build';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless=new', '--no-sandbox', '--disable-gpu', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const MAKE_FIXTURES = new URL('../sources/make-fixtures.sh', import.meta.url).pathname;

let dir;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'fc-h264-browser-'));
  execFileSync('sh', [MAKE_FIXTURES, dir, `${FIXTURES}face-astronaut.png`], { stdio: 'inherit' });
});
after(() => rmSync(dir, { recursive: true, force: true }));

const canvasHash = (page, id) => page.$eval(`.tile[data-stream="${id}"] .frame`, (c) => {
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let h = 0;
  for (let i = 0; i < d.length; i += 4 * 13) h = (Math.imul(h, 31) + d[i] + (d[i + 1] << 8)) | 0;
  return h;
});

test('an H.264 tile in headless Chromium', { timeout: 150000 }, async () => {
  const server = await new Server(['--synthetic', '1', '--size', '320x180', '--fps', '15',
    '--source', `file:${join(dir, 'h264.mp4')},loop,id=door`]).start();
  const userDataDir = await mkdtemp(join(tmpdir(), 'framecast-chromium-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport: { width: 1280, height: 720 },
    });
    const page = context.pages()[0] || await context.newPage();
    const problems = [], pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
    await page.goto(server.http + '/');
    await until(async () => (await page.$$('.tile[data-state="live"]')).length === 2,
      { timeoutMs: 15000, what: 'both tiles live' });

    const [door, cam0] = await Promise.all([server.json('/api/streams/door'), server.json('/api/streams/cam0')]);
    assert.ok(door.codecs.includes('h264'));
    assert.ok(!cam0.codecs.includes('h264'));
    // The file has been opened for the tile: its codec string is known.
    const codecString = (await server.json('/api/streams/door')).h264.codec_string;
    assert.match(codecString, /^avc1\./);
    const supported = await page.evaluate(async (codec) =>
      (await VideoDecoder.isConfigSupported({ codec, optimizeForLatency: true })).supported, codecString);
    const tileCodec = (id) => page.$eval(`.tile[data-stream="${id}"]`, (el) => el.dataset.codec);
    const optionDisabled = await page.$eval('.tile[data-stream="door"] option[value="h264"]', (o) => o.disabled);
    assert.equal(await tileCodec('cam0'), 'vp8', 'a procedural camera offers no h264: auto is VP8');
    assert.equal(await page.$eval('.tile[data-stream="cam0"] option[value="h264"]', (o) => o.disabled), true);
    console.log(`# this Chromium (${await context.browser()?.version() ?? 'persistent'}): isConfigSupported(${codecString}) = ${supported}`);
    if (!supported) {
      // Proven unable: auto falls back, and h264 is not offered.
      assert.equal(optionDisabled, true);
      assert.equal(await tileCodec('door'), 'vp8');
      return;
    }
    assert.equal(optionDisabled, false);
    assert.equal(await tileCodec('door'), 'h264', 'auto picks the camera\'s own H.264');
    assert.equal(await page.$eval('.tile[data-stream="door"] .v-codec', (e) => e.textContent), 'h264');
    // It paints new pictures, again and again.
    for (let round = 0; round < 3; round++) {
      const before = await canvasHash(page, 'door');
      await until(async () => (await canvasHash(page, 'door')) !== before,
        { timeoutMs: 10000, what: `a new picture on the H.264 tile (round ${round})` });
    }
    assert.equal(await page.$eval('.tile[data-stream="door"]', (el) => el.dataset.decodeErrors || '0'), '0');
    const st = await server.json('/api/streams/door');
    assert.equal(st.h264.subscribers, 1);
    assert.equal(st.input.frames_decoded, 0, 'the browser decodes; the server does not');
    await page.screenshot({ path: join(ARTIFACTS, 'viewer-h264.png') });
    assert.deepEqual(pageErrors, []);
    assert.deepEqual(problems, []);
  } finally {
    await context?.close();
    await rm(userDataDir, { recursive: true, force: true });
    assert.equal(await server.stop(), 0);
  }
});
