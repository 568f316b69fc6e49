// The avatar demo page (web/demo/, served at /demo) in Debian's Chromium,
// headless: it uploads the bundled samples, starts a session with the audio
// sent back, draws frames that advance on the canvas, and stops; in JPEG,
// then in VP8 (15 fps, decoded with WebCodecs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { Server, until } from '../lib/server.mjs';

const ARTIFACTS = process.env.FRAMECAST_ARTIFACTS || 'build';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
// Flags that keep Chromium from talking to anything but the page's server;
// audio may play without a real user gesture and goes nowhere.
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--autoplay-policy=no-user-gesture-required', '--mute-audio'];

const canvasColours = (page) => page.$eval('#view', (c) => {
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  const seen = new Set();
  for (let i = 0; i < d.length; i += 4 * 97) seen.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
  return seen.size;
});

test('avatar demo page in headless Chromium', { timeout: 90000 }, async () => {
  const media = await mkdtemp(join(tmpdir(), 'framecast-demo-media-'));
  const server = await new Server(['--synthetic', '0', '--media-dir', media]).start();
  const userDataDir = await mkdtemp(join(tmpdir(), 'framecast-chromium-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS,
      viewport: { width: 900, height: 900 },
    });
    const page = context.pages()[0] || await context.newPage();
    const requests = [], pageErrors = [];
    context.on('request', (r) => requests.push(r.url()));
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(server.http + '/demo');
    const state = () => page.$eval('#status', (s) => ({ ...s.dataset }));
    for (const [i, [format, fps]] of [['jpeg', '25'], ['vp8', '15']].entries()) {
      await page.selectOption('#format', format);
      await page.click('#start');
      await until(async () => Number((await state()).frames) >= 10, { timeoutMs: 15000, what: `10 ${format} frames drawn` });
      const first = Number((await state()).lastId);
      await until(async () => Number((await state()).lastId) >= first + 10, { timeoutMs: 5000, what: `${format} frames advancing` });
      assert.equal((await state()).format, format);
      assert.equal((await state()).fps, fps);
      assert.ok(await canvasColours(page) > 50, `the canvas shows a ${format} picture`);
      await page.screenshot({ path: join(ARTIFACTS, `demo-streaming-${format}.png`) });
      await page.click('#stop');
      await until(async () => (await state()).state === 'stopped', { timeoutMs: 3000, what: 'stopped' });
      assert.equal(await server.metric('fc_avatar_sessions_total', { outcome: 'stopped' }), i + 1);
    }
    assert.deepEqual(pageErrors, []);
    const foreign = requests.filter((u) => !u.startsWith(server.http));
    assert.deepEqual(foreign, [], 'the page asked only its own server');
  } finally {
    await context?.close();
    await server.stop();
    await rm(userDataDir, { recursive: true, force: true });
    await rm(media, { recursive: true, force: true });
  }
});
