// The viewer's edit mode (web/manage.js) in Debian's Chromium, headless,
// against a real framecast with an API key: read-only without the key; with
// it, add a stream from the page and watch it, change it live, remove one;
// and on a server that requires viewer tokens, the page's token and then the
// key let it watch. Screenshots go to the build directory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { Server, until } from '../lib/server.mjs';
import { call, keyFor } from '../lib/api.mjs';

const ARTIFACTS = process.env.FRAMECAST_ARTIFACTS || 'build';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const KEY = keyFor('browser');

const tiles = (page) => page.$$eval('.tile', (els) => els.map((el) => ({
  id: el.dataset.stream,
  state: el.dataset.state,
  frames: Number(el.querySelector('.v-frames').textContent),
  text: el.querySelector('.o-state').textContent,
  edit: Boolean(el.querySelector('.m-edit')),
  remove: Boolean(el.querySelector('.m-remove')),
})));
const tile = async (page, id) => (await tiles(page)).find((x) => x.id === id);
const visible = (page, sel) => page.$eval(sel, (el) => !el.hidden && el.offsetParent !== null);
const modeText = (page) => page.$eval('.m-mode', (el) => el.textContent);

async function withBrowser(fn) {
  const userDataDir = await mkdtemp(join(tmpdir(), 'framecast-chromium-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport: { width: 1280, height: 720 },
    });
    const page = context.pages()[0] || await context.newPage();
    const problems = [];
    page.on('pageerror', (e) => problems.push(e.message));
    page.on('console', (m) => {
      // A refused request is the point of some steps; anything else is not.
      if (m.type() === 'error' && !/status of (400|401|429)/.test(m.text())) problems.push(m.text());
    });
    page.on('dialog', (d) => d.accept());
    await fn(page);
    assert.deepEqual(problems, []);
  } finally {
    await context?.close();
    await rm(userDataDir, { recursive: true, force: true });
  }
}

test('with the key the page adds, edits and removes streams; without it, read-only', { timeout: 120000 }, async () => {
  const server = await new Server(['--synthetic', '1', '--size', '320x180', '--fps', '15'],
    { env: { FRAMECAST_API_KEY: KEY } }).start();
  try {
    const r = await call(server, 'POST', '/api/streams', { key: KEY, body: { id: 'pre', spec: 'synthetic:procedural,size=320x180,fps=10' } });
    assert.equal(r.status, 201, r.text);
    await withBrowser(async (page) => {
      const sockets = [];
      page.on('websocket', (ws) => sockets.push(ws.url()));
      await page.goto(server.http + '/');
      await until(async () => (await tiles(page)).length === 2 && (await tiles(page)).every((x) => x.state === 'live'),
        { timeoutMs: 15000, what: 'both tiles live' });

      // Read-only: no way to change anything is offered.
      await until(async () => (await modeText(page)) === 'Read-only', { what: 'the read-only mode' });
      assert.equal(await visible(page, '.m-add'), false);
      assert.equal(await visible(page, '.m-unlock'), true);
      assert.ok((await tiles(page)).every((x) => !x.edit && !x.remove));

      // A wrong key is refused and changes nothing.
      await page.fill('.m-unlock input[name=key]', keyFor('wrong'));
      await page.click('.m-unlock button');
      await until(async () => /the key was refused/.test(await modeText(page)), { what: 'the refusal' });
      assert.equal(await visible(page, '.m-add'), false);

      // The key unlocks: Edit and Remove on the API's stream only.
      await page.fill('.m-unlock input[name=key]', KEY);
      await page.click('.m-unlock button');
      await until(async () => (await modeText(page)) === 'Editing', { what: 'the edit mode' });
      assert.equal(await visible(page, '.m-add'), true);
      await until(async () => (await tile(page, 'pre'))?.edit, { what: 'Edit on the API stream' });
      assert.equal((await tile(page, 'cam0')).edit, false);

      // Add: a mistake is shown naming the field and nothing is added...
      await page.click('.m-add');
      await page.fill('.m-form input[name=id]', 'added');
      await page.fill('.m-form input[name=spec]', 'synthetic:procedural,size=321x180');
      await page.click('.m-save');
      await until(async () => /^spec: .*size '321x180'/.test(await page.$eval('.m-error', (e) => e.textContent)),
        { what: 'the error in the dialog' });
      assert.equal((await call(server, 'GET', '/api/streams/added')).status, 404);
      // ...then the stream is added, and its tile goes live.
      await page.fill('.m-form input[name=spec]', 'synthetic:procedural,size=320x180,fps=10');
      await page.fill('.m-form input[name=q_high]', '70');
      await page.click('.m-save');
      await until(async () => (await tile(page, 'added'))?.state === 'live' && (await tile(page, 'added')).frames > 2,
        { timeoutMs: 15000, what: 'the added stream live on the page' });
      const added = (await call(server, 'GET', '/api/streams/added')).json;
      assert.equal(added.origin, 'api');
      assert.equal(added.settings.quality.high, 70);
      assert.ok((await tile(page, 'added')).edit);
      await page.screenshot({ path: join(ARTIFACTS, 'viewer-manage-1280x720.png') });

      // Edit: a live change, the tile keeps its connection and its frames.
      const before = sockets.filter((u) => u.includes('/ws/streams/added')).length;
      await page.click('.tile[data-stream=added] .m-edit');
      assert.equal(await page.$eval('.m-form input[name=q_high]', (e) => e.value), '70');
      await page.fill('.m-form input[name=encode_fps]', '5');
      await page.click('.m-save');
      await until(async () => (await call(server, 'GET', '/api/streams/added')).json.encode_fps === 5, { what: 'the change on the server' });
      const frames = (await tile(page, 'added')).frames;
      await until(async () => (await tile(page, 'added')).frames > frames + 2, { timeoutMs: 15000, what: 'frames after the change' });
      assert.equal((await tile(page, 'added')).state, 'live');
      assert.equal(sockets.filter((u) => u.includes('/ws/streams/added')).length, before);

      // Remove: the tile goes, and so does the stream.
      await page.click('.tile[data-stream=pre] .m-remove');
      await until(async () => !(await tile(page, 'pre')), { what: 'the removed tile to go' });
      assert.equal((await call(server, 'GET', '/api/streams/pre')).status, 404);
      assert.deepEqual((await tiles(page)).map((x) => x.id), ['cam0', 'added']);

      // Lock: read-only again.
      await page.click('.m-lock');
      assert.equal(await modeText(page), 'Read-only');
      assert.ok((await tiles(page)).every((x) => !x.edit));
    });
  } finally {
    assert.equal(await server.stop(), 0);
  }
});

test('viewer tokens required: the page watches with its token, and with the key', { timeout: 120000 }, async () => {
  const server = await new Server(['--synthetic', '2', '--size', '320x180', '--fps', '10', '--viewer-tokens', 'required'],
    { env: { FRAMECAST_API_KEY: KEY } }).start();
  try {
    const secret = createHmac('sha256', KEY).update('framecast viewer tokens v1').digest();
    const body = `v1~cam1~${Math.floor(Date.now() / 1000) + 600}`;
    const token = `${body}~${createHmac('sha256', secret).update(body).digest('hex').toUpperCase()}`;
    await withBrowser(async (page) => {
      await page.goto(`${server.http}/?token=${token}`);
      await until(async () => (await tile(page, 'cam1'))?.state === 'live' && (await tile(page, 'cam0'))?.state === 'error',
        { timeoutMs: 15000, what: 'cam1 live by its token, cam0 refused' });
      assert.match((await tile(page, 'cam0')).text, /needs a viewer token or the key/);
      await page.fill('.m-unlock input[name=key]', KEY);
      await page.click('.m-unlock button');
      await until(async () => (await tiles(page)).every((x) => x.state === 'live'),
        { timeoutMs: 15000, what: 'every tile live with the key' });
    });
  } finally {
    assert.equal(await server.stop(), 0);
  }
});
