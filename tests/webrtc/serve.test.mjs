// `framecast serve --janus`, end to end, in a network namespace of the
// test's own: Janus started by scripts/run-janus, framecast with a synthetic
// stream, headless Chromium playing the stream's mountpoint through Debian's
// janus.js, WebSocket viewers beside it (framecast's own load client and a
// WebSocket in the page). Then Janus is killed and restarted: framecast
// creates the mountpoint again while the WebSocket viewers go on; a framecast
// whose Janus is not there serves WebSocket viewers and says why it has no
// WebRTC; a framecast that stops destroys its mountpoint in Janus.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { statSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Netns } from '../lib/netns.mjs';
import { FIXTURES, janusUrl, openViewer, startJanus, startPages, stats, watch } from '../lib/webrtc.mjs';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FRAMECAST = process.env.FRAMECAST_BIN || join(ROOT, 'build/framecast');
const ADMIN_KEY = 'test-admin-key';
const FPS = 20;
const [W, H] = [640, 360];
// Inside the namespace every port is free; these are the suite's range.
const PORT = 19720, LONELY_PORT = 19721, NO_JANUS = 'http://127.0.0.1:19722/janus';
const SILENT_PORT = 19723, SILENT_JANUS = 'http://127.0.0.1:19724/janus', BADKEY_PORT = 19725;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls `get` until pred(value) holds; the last value is in the error.
async function until(get, pred, { timeoutMs = 10000, what }) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await get();
    if (pred(last)) return last;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last ${JSON.stringify(last)}`);
    await sleep(100);
  }
}

// No database file (streams added here are the test's only), and admission
// by budgets only: a machine busy with other tests must not refuse sessions.
function startFramecast(ns, port, janus, label, media, key = ADMIN_KEY) {
  return ns.spawn(FRAMECAST, ['serve', '--host', '127.0.0.1', '--port', String(port), '--synthetic', '1',
    '--db', ':memory:', '--load-admission', 'off',
    '--size', `${W}x${H}`, '--fps', String(FPS), '--web-root', join(ROOT, 'web'),
    '--janus', janus, '--janus-admin-key', key, ...(media ? ['--media-dir', media] : [])], { label });
}

// The avatar session's pieces: the speech fixture (16 kHz, 9.3 s), two
// seconds of it for a session that runs to its end, and a face.
async function makeMedia(dir) {
  const media = join(dir, 'media');
  await mkdir(media);
  await copyFile(join(FIXTURES, 'speech-16k.wav'), join(media, 'speech.wav'));
  await copyFile(join(FIXTURES, 'face-astronaut.png'), join(media, 'face.png'));
  execFileSync('ffmpeg', ['-loglevel', 'error', '-y', '-i', join(media, 'speech.wav'), '-t', '2', join(media, 'short.wav')]);
  return media;
}
const startAvatar = (page, audio) => page.evaluate(([u, m]) => window.fc.avatarStart(u, m), [`ws://127.0.0.1:${PORT}/ws/caller1`,
  { type: 'start_streaming', audio_path: audio, source_path: 'face.png', binary: true, run_kwargs: { transport: 'webrtc' } }]);
const avatarMessage = (page, type) => page.waitForFunction((t) => window.fc.avatarMessages().find((m) => m.type === t), type,
  { timeout: 20000 }).then((h) => h.jsonValue());

const api = (ns, port, path) => JSON.parse(ns.exec('curl', ['-sf', `http://127.0.0.1:${port}${path}`]));
const stream0 = (ns, port) => api(ns, port, '/api/streams')[0];
function metric(ns, port, name, labels) {
  const text = ns.exec('curl', ['-sf', `http://127.0.0.1:${port}/metrics`]);
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && labels.every((x) => l.includes(x)));
  return line ? Number(line.split(' ').at(-1)) : NaN;
}

// framecast's load client (JPEG, which it checks frame by frame) for
// `seconds`, in the namespace; its JSON report.
function wsClient(ns, port, seconds) {
  return ns.spawn(FRAMECAST, ['client', '--url', `ws://127.0.0.1:${port}/ws/streams/cam0`, '--seconds', String(seconds), '--json'],
    { label: 'client' });
}
async function report(client) {
  const code = await client.exited.then(() => client.child.exitCode);
  const text = client.lines.join('\n');
  const json = JSON.parse(text.slice(text.indexOf('{'), text.lastIndexOf('}') + 1));
  return { code, ...json.aggregate };
}

// Every request a page makes (WebSockets included), and what came back.
function requests(page) {
  const asked = [];
  page.on('request', (r) => asked.push({ url: r.url(), status: null }));
  page.on('requestfinished', async (r) => {
    const e = asked.find((x) => x.url === r.url() && x.status === null);
    // A request that finishes as the page closes has no response to ask
    // for any more: that is no error of the page's.
    if (e) e.status = (await r.response().catch(() => null))?.status() ?? null;
  });
  page.on('websocket', (w) => asked.push({ url: w.url(), status: 101 }));
  return asked;
}

// The page got janus.js and the adapter from framecast (200), and asked no
// origin but framecast's (pages, API, WebSockets) and Janus's.
function onlyFramecastAndJanus(asked) {
  const fc = [`http://127.0.0.1:${PORT}`, `ws://127.0.0.1:${PORT}`];
  for (const file of ['/vendor/janus.js', '/vendor/adapter.js']) {
    const got = asked.find((x) => x.url === `${fc[0]}${file}`);
    assert.ok(got && got.status === 200, `${file} from framecast: ${JSON.stringify(got)}`);
  }
  const janus = new URL(janusUrl()).origin;
  const strangers = asked.filter((x) => !fc.includes(new URL(x.url).origin) && new URL(x.url).origin !== janus);
  assert.deepEqual(strangers, []);
  assert.ok(asked.some((x) => x.url.startsWith(`${janus}/janus/`)), 'the page talked to Janus');
}

const readyLine = (l) => /stream cam0: WebRTC on Janus mountpoint \d+/.test(l);
const mountpointOf = (l) => Number(l.match(/mountpoint (\d+)/)[1]);

test('framecast serve --janus: streams over WebRTC in Chromium', { timeout: 170000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'framecast-webrtc-serve-'));
  const ns = await Netns.create();
  const problems = [];
  try {
    let janus = await startJanus(ns, { dir: join(dir, 'janus'), adminKey: ADMIN_KEY });
    const fc = startFramecast(ns, PORT, janusUrl(), 'framecast', await makeMedia(dir));
    const id = mountpointOf(await fc.waitFor(readyLine, { timeoutMs: 15000, what: 'the mountpoint' }));
    const { origin } = await startPages(ns);
    const browser = await ns.chromium();

    await t.test('/api/streams names the mountpoint', () => {
      const w = stream0(ns, PORT).webrtc;
      assert.deepEqual([w.available, w.mountpoint, w.why, w.janus, w.codec, w.tier], [true, id, null, 'ready', 'vp8', 'medium']);
    });

    let page;
    await t.test('Chromium decodes the stream at about its rate, at its size', async () => {
      page = await openViewer(browser, origin, id, { problems });
      await until(() => stats(page), (s) => s.video && s.video.framesDecoded > 10, { what: 'decoded frames' });
      const a = await stats(page);
      const t0 = Date.now();
      await sleep(3000);
      const b = await stats(page);
      const rate = (b.video.framesDecoded - a.video.framesDecoded) / ((Date.now() - t0) / 1000);
      assert.ok(rate > FPS * 0.5 && rate < FPS * 1.5, `decoded ${rate.toFixed(1)} fps of a ${FPS} fps stream`);
      assert.deepEqual([b.video.frameWidth, b.video.frameHeight], [W, H]);
    });

    await t.test('the PLI of the viewer joining forced a key frame through the hub', () => {
      const w = stream0(ns, PORT).webrtc;
      assert.ok(w.key_frame_requests >= 1, JSON.stringify(w));
      assert.ok(w.frames_sent > 10 && w.send_errors === 0, JSON.stringify(w));
      const forced = metric(ns, PORT, 'fc_keyframes_forced_total', ['stream="cam0"', 'codec="vp8"', 'view="full"']);
      assert.ok(forced >= 1, `fc_keyframes_forced_total ${forced}`);
    });

    await t.test('a WebSocket VP8 viewer on the medium tier shares the encode', async () => {
      const ws = await page.evaluate((u) => window.fc.wsOpen(u), `ws://127.0.0.1:${PORT}/ws/streams/cam0?codec=vp8&quality=medium`);
      await page.waitForFunction((i) => window.fc.wsStats(i).frames > 5, ws, { timeout: 10000 });
      const a = stream0(ns, PORT);
      assert.equal(a.subscribers_by_tier.medium, 2); // Janus's and the page's
      const f0 = (await page.evaluate((i) => window.fc.wsStats(i), ws)).frames;
      await page.waitForFunction(([i, n]) => window.fc.wsStats(i).frames > n + 30, [ws, f0], { timeout: 10000 });
      const b = stream0(ns, PORT);
      // One encode per frame for both, not one each.
      const encoded = b.frames_encoded.medium - a.frames_encoded.medium;
      const produced = b.frames_produced - a.frames_produced;
      assert.ok(encoded >= 30 && encoded <= produced + 2, `${encoded} encodes for ${produced} frames`);
      assert.equal(metric(ns, PORT, 'fc_stream_outputs', ['stream="cam0"', 'codec="vp8"', 'view="full"']), 1);
      assert.equal((await page.evaluate((i) => window.fc.wsStats(i), ws)).closed, null);
    });

    await t.test('Janus killed and restarted: the API says why meanwhile, the mountpoint comes back, WebSocket viewers go on', async () => {
      const before = stream0(ns, PORT).subscribers;
      const client = wsClient(ns, PORT, 12);
      await until(() => stream0(ns, PORT).subscribers, (n) => n === before + 1, { what: 'the load client' });
      const mark = fc.mark();
      await janus.stop({ sig: 'SIGKILL' });
      const down = await until(() => stream0(ns, PORT).webrtc, (w) => !w.available, { what: 'WebRTC unavailable' });
      assert.match(down.why, /^Janus at http:\/\/127\.0\.0\.1:\d+\/janus: /);
      assert.equal(down.janus, 'unreachable');
      janus = await startJanus(ns, { dir: join(dir, 'janus'), adminKey: ADMIN_KEY });
      const again = mountpointOf(await fc.waitFor(readyLine, { since: mark, timeoutMs: 15000, what: 'the mountpoint again' }));
      assert.equal(again, id); // the same id: viewers' links still work
      const viewer = await openViewer(browser, origin, id, { problems });
      await until(() => stats(viewer), (s) => s.video && s.video.framesDecoded > 20, { what: 'frames after the restart' });
      const r = await report(client);
      assert.equal(r.code, 0, client.tail());
      assert.equal(r.failed, 0);
      assert.ok(r.fps_min > FPS * 0.5, `WebSocket viewer at ${r.fps_min} fps through the restart`);
      await viewer.close();
    });

    await t.test('a stream added through the API gets a mountpoint that plays; deleted, the mountpoint goes', async () => {
      const created = JSON.parse(ns.exec('curl', ['-sf', '-X', 'POST', `http://127.0.0.1:${PORT}/api/streams`,
        '-d', '{"id":"lobby","spec":"synthetic:procedural,size=320x240,fps=15"}']));
      assert.equal(created.id, 'lobby');
      const w = await until(() => api(ns, PORT, '/api/streams/lobby').webrtc, (x) => x.available, { what: 'the new stream\'s mountpoint' });
      assert.ok(Number.isInteger(w.mountpoint) && w.mountpoint !== id, JSON.stringify(w));
      const viewer = await openViewer(browser, origin, w.mountpoint, { problems });
      await until(() => stats(viewer), (x) => x.video && x.video.framesDecoded > 10, { what: 'frames of the added stream' });
      assert.equal((await stats(viewer)).video.frameWidth, 320);
      await viewer.close();
      ns.exec('curl', ['-sf', '-X', 'DELETE', `http://127.0.0.1:${PORT}/api/streams/lobby`]);
      const probe = await browser.newPage();
      await probe.goto(`${origin}/`);
      // The mountpoint is destroyed in the background: watch until Janus says so.
      await until(() => watch(probe, w.mountpoint).then(() => 'watching', (e) => e.message), (m) => /No such mountpoint/.test(m),
        { what: 'the deleted stream\'s mountpoint gone' });
      await probe.close();
      assert.equal(api(ns, PORT, '/api/streams').length, 1);
    });

    await t.test('no Janus at the URL: WebSocket viewers are served, the API says why', async () => {
      const lonely = startFramecast(ns, LONELY_PORT, NO_JANUS, 'framecast-lonely');
      await lonely.waitFor((l) => l.includes('listening on'), { what: 'listening' });
      const w = await until(() => stream0(ns, LONELY_PORT).webrtc, (x) => x.janus === 'unreachable', { what: 'unreachable' });
      assert.equal(w.available, false);
      assert.equal(w.mountpoint, null);
      assert.match(w.why, /^Janus at http:\/\/127\.0\.0\.1:19722\/janus: cannot connect/);
      const r = await report(wsClient(ns, LONELY_PORT, 2));
      assert.equal(r.code, 0);
      assert.equal(r.failed, 0);
      assert.ok(r.frames > 0);
      // An avatar session asking for WebRTC there is refused, saying why.
      await assert.rejects(page.evaluate((u) => window.fc.avatarStart(u, { type: 'start_streaming', audio_path: 'a.wav',
        source_path: 'b.png', run_kwargs: { transport: 'webrtc' } }), `ws://127.0.0.1:${LONELY_PORT}/ws/caller2`),
      /run_kwargs\.transport "webrtc": WebRTC unavailable: Janus at http:\/\/127\.0\.0\.1:19722\/janus: cannot connect/);
      assert.equal(await lonely.stop(), 0);
    });

    await t.test('a wrong admin key: the stream says Janus\'s refusal', async () => {
      const bad = startFramecast(ns, BADKEY_PORT, janusUrl(), 'framecast-badkey', null, 'not-the-key');
      const w = await until(() => { try { return stream0(ns, BADKEY_PORT).webrtc; } catch { return null; } },
        (x) => x && x.why && /refused/.test(x.why), { what: 'the refusal' });
      assert.equal(w.available, false);
      assert.equal(w.janus, 'ready'); // Janus is there; it refused the mountpoint
      assert.match(w.why, /Janus refused to create it: Unauthorized \(wrong admin_key\) \(457\)/);
      assert.equal(await bad.stop(), 0);
    });

    await t.test('a Janus that never answers: an avatar session asking for WebRTC is refused after its deadline', async () => {
      const silent = ns.spawn(process.execPath, ['-e', `require('net').createServer(() => {}).listen(19724, '127.0.0.1', () => console.log('silent'))`],
        { label: 'silent-janus' });
      await silent.waitFor((l) => l === 'silent', { what: 'the silent server' });
      const fcs = startFramecast(ns, SILENT_PORT, SILENT_JANUS, 'framecast-silent', join(dir, 'media'));
      await fcs.waitFor((l) => l.includes('listening on'), { what: 'listening' });
      // Still connecting (its first request waits for its 5 s deadline): the session waits for the mountpoint.
      assert.equal(api(ns, SILENT_PORT, '/api/server').webrtc.state, 'connecting');
      const pg = await browser.newPage();
      await pg.goto(`${origin}/`);
      await assert.rejects(pg.evaluate((u) => window.fc.avatarStart(u, { type: 'start_streaming', audio_path: 'speech.wav',
        source_path: 'face.png', run_kwargs: { transport: 'webrtc' } }), `ws://127.0.0.1:${SILENT_PORT}/ws/caller3`),
      /run_kwargs\.transport "webrtc": Janus did not create the mountpoint within 10 s \(Janus at http:\/\/127\.0\.0\.1:19724\/janus: /);
      await pg.close();
      assert.equal(await fcs.stop(), 0);
      await silent.stop();
    });

    await t.test('an avatar session with transport=webrtc: VP8 at 15 fps and Opus speech in Chromium; stop_streaming destroys its mountpoint', async () => {
      const av = await browser.newPage();
      av.on('pageerror', (e) => problems.push(e.message));
      await av.goto(`${origin}/`);
      const started = await startAvatar(av, 'speech.wav');
      assert.ok(Number.isInteger(started.mountpoint) && started.mountpoint !== id, JSON.stringify(started));
      const meta = await avatarMessage(av, 'metadata');
      assert.deepEqual([meta.format, meta.fps], ['vp8', 15]);
      // The session's audio rate (the generator's: 24 kHz for the puppet) is
      // one Opus takes, so it is encoded as it is, not resampled.
      assert.equal(meta.sample_rate, 24000);
      assert.equal((await av.evaluate(() => window.fc.avatarMessages())).some((m) => m.type === 'audio'), false);
      await watch(av, started.mountpoint);
      const first = await until(() => stats(av), (x) => x.video && x.video.framesDecoded > 5 && x.audio && x.audio.packetsReceived > 10,
        { what: 'avatar video and audio' });
      const t0 = Date.now();
      await sleep(2000);
      const later = await stats(av);
      const rate = (later.video.framesDecoded - first.video.framesDecoded) / ((Date.now() - t0) / 1000);
      assert.ok(rate > 15 * 0.5 && rate < 15 * 1.5, `avatar video at ${rate.toFixed(1)} fps`);
      assert.deepEqual([later.video.frameWidth, later.video.frameHeight], [512, 512]);
      assert.ok(later.audio.packetsReceived > first.audio.packetsReceived);
      await until(() => stats(av), (x) => x.audio.audioLevel > 0.01, { what: 'an audio level above 0.01' });
      assert.match(fc.lines.find((l) => l.includes('avatar caller1: WebRTC audio:')) || '', /\d+ Opus packets at 24000 Hz$/);
      await av.evaluate(() => window.fc.avatarSend({ type: 'stop_streaming' }));
      const done = await avatarMessage(av, 'streaming_completed');
      assert.equal(done.stopped, true);
      await assert.rejects(watch(av, started.mountpoint), /No such mountpoint/);
      await av.close();
    });

    await t.test('an avatar session over WebRTC that reaches the end of its audio destroys its mountpoint', async () => {
      const av = await browser.newPage();
      await av.goto(`${origin}/`);
      const started = await startAvatar(av, 'short.wav');
      await watch(av, started.mountpoint);
      const done = await avatarMessage(av, 'streaming_completed');
      assert.equal(done.stopped, false);
      assert.ok(done.frames >= 25, JSON.stringify(done)); // 2 s at 15 fps
      await assert.rejects(watch(av, started.mountpoint), /No such mountpoint/);
      await av.close();
    });

    await t.test('/vendor/ serves Debian\'s janus.js and adapter.js, nothing else', () => {
      for (const [url, file] of [['/vendor/janus.js', '/usr/share/javascript/janus-gateway/janus.js'],
        ['/vendor/adapter.js', '/usr/share/javascript/webrtc-adapter/adapter.js']]) {
        const head = ns.exec('curl', ['-sf', '-o', '/dev/null', '-w', '%{content_type} %{size_download}', `http://127.0.0.1:${PORT}${url}`]);
        assert.equal(head, `text/javascript; charset=utf-8 ${statSync(file).size}`, url);
      }
      for (const url of ['/vendor/janus.min.js', '/vendor/', '/vendor/adapter_no_global.js', '/vendor/janus-gateway/janus.js']) {
        const code = ns.exec('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${PORT}${url}`]);
        assert.equal(code, '404', url);
      }
    });

    await t.test('framecast\'s viewer page plays a tile over WebRTC, through janus.js from framecast\'s origin', async () => {
      const v = await browser.newPage();
      const asked = requests(v);
      v.on('pageerror', (e) => problems.push(e.message));
      v.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') console.log(`viewer: ${m.text()}`); });
      await v.goto(`http://127.0.0.1:${PORT}/?codec=webrtc`);
      const tile = v.locator('li.tile[data-stream="cam0"]');
      await v.waitForFunction(() => {
        const el = document.querySelector('li.tile[data-stream="cam0"]');
        return el && el.dataset.state === 'live' && Number(el.querySelector('.v-frames').textContent) > 30;
      }, null, { timeout: 20000 });
      assert.equal(await tile.getAttribute('data-codec'), 'webrtc');
      assert.equal(await tile.locator('.v-codec').textContent(), 'webrtc');
      assert.equal(await tile.locator('.v-size').textContent(), `${W}×${H}`);
      assert.equal(await v.evaluate(() => typeof window.Janus), 'function');
      onlyFramecastAndJanus(asked);
      await v.close();
    });

    await t.test('the avatar demo with transport WebRTC plays the session\'s video and speech', async () => {
      const d = await browser.newPage();
      const asked = requests(d);
      d.on('pageerror', (e) => problems.push(e.message));
      d.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') console.log(`demo: ${m.text()}`); });
      await d.goto(`http://127.0.0.1:${PORT}/demo/`);
      await d.selectOption('#transport', 'webrtc');
      await d.click('#start');
      await d.waitForFunction(() => {
        const s = document.getElementById('status');
        return s.dataset.state === 'streaming' && s.dataset.mountpoint && Number(s.dataset.frames) > 20;
      }, null, { timeout: 20000 });
      const tracks = await d.evaluate(() => document.getElementById('rtc').srcObject.getTracks().map((x) => x.kind).sort());
      assert.deepEqual(tracks, ['audio', 'video']);
      onlyFramecastAndJanus(asked);
      await d.click('#stop');
      await d.waitForFunction(() => document.getElementById('status').dataset.state === 'stopped', null, { timeout: 10000 });
      await d.close();
    });

    await t.test('framecast stopping destroys its mountpoint in Janus', async () => {
      await page.close();
      assert.equal(await fc.stop(), 0, fc.tail());
      await assert.rejects(openViewer(browser, origin, id), /No such mountpoint/);
      assert.deepEqual(problems, []);
    });
  } finally {
    await ns.close();
    await rm(dir, { recursive: true, force: true });
  }
});
