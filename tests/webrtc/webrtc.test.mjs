// WebRTC through Janus, end to end, in a network namespace of the test's own:
// Janus started by scripts/run-janus; a mountpoint created through fc_janus by
// the test sender, which sends VP8 frames (made here with ffmpeg) and Opus
// speech through fc_rtp and fc_rtp_out at their rate; headless Chromium
// playing it through Debian's janus.js. Then Janus is killed and restarted:
// the sender's client notices, creates the mountpoint again, and a new viewer
// plays.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Netns } from '../lib/netns.mjs';
import { FIXTURES, janusUrl, makeH264, makeStampedIvf, openViewer, startJanus, startPages, startSender, stats } from '../lib/webrtc.mjs';

const ID = 4242;
const ADMIN_KEY = 'test-admin-key';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls the page's receiver statistics until pred(stats) holds.
async function untilStats(page, pred, { timeoutMs = 10000, what }) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await stats(page);
    if (pred(last)) return last;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last stats ${JSON.stringify(last)}`);
    await sleep(100);
  }
}

// Frames decoded per second over `ms` of wall time.
async function decodeRate(page, ms) {
  const a = await stats(page);
  const t0 = Date.now();
  await sleep(ms);
  const b = await stats(page);
  return (b.video.framesDecoded - a.video.framesDecoded) / ((Date.now() - t0) / 1000);
}

test('WebRTC through Janus in a network namespace', { timeout: 150000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'framecast-webrtc-'));
  const ns = await Netns.create();
  const problems = [];
  try {
    const fixture = await makeStampedIvf(join(dir, 'stamped.ivf'), { width: 640, height: 360, fps: 30, seconds: 4 });
    let janus = await startJanus(ns, { dir: join(dir, 'janus'), adminKey: ADMIN_KEY });
    const sender = startSender(ns, ['--janus', janusUrl(), '--admin-key', ADMIN_KEY, '--id', String(ID),
      '--ivf', fixture.path, '--fps', String(fixture.fps), '--wav', join(FIXTURES, 'speech-16k.wav'), '--audio-rate', '16000']);
    const ready = await sender.waitForEvent('ready', () => true, { timeoutMs: 10000 });
    assert.equal(ready.id, ID);
    assert.equal(ready.host, '127.0.0.1');
    assert.ok(ready.video > 0 && ready.rtcp > 0 && ready.audio > 0, JSON.stringify(ready));
    const { origin } = await startPages(ns);
    const browser = await ns.chromium();

    let page;
    await t.test('a viewer decodes the VP8 frames at the rate they are sent, at their size', async () => {
      // Nobody watched yet, so Janus had no reason to ask for a key frame.
      assert.equal(sender.events('keyframe').length, 0);
      page = await openViewer(browser, origin, ID, { problems });
      await untilStats(page, (s) => s.video && s.video.framesDecoded > 10, { what: 'decoded frames' });
      const rate = await decodeRate(page, 3000);
      assert.ok(rate > fixture.fps * 0.8 && rate < fixture.fps * 1.2, `decoded ${rate.toFixed(1)} fps, sent ${fixture.fps}`);
      const s = await stats(page);
      assert.equal(s.video.frameWidth, fixture.width);
      assert.equal(s.video.frameHeight, fixture.height);
    });

    await t.test('the burned-in frame numbers arrive in order', async () => {
      await page.evaluate((f) => window.fc.startStamps(f), { cell: fixture.cell, bits: fixture.bits });
      await page.waitForFunction(() => window.fc.stamps.length >= 30, null, { timeout: 10000 });
      const ns_ = await page.evaluate(() => window.fc.stamps.map((s) => s.n));
      // Forward through the looping file, modulo its length: a browser short
      // of CPU may paint fewer frames than arrive, but never an older one
      // (which would show as a step of most of the file's length).
      const steps = ns_.slice(1).map((n, i) => (n - ns_[i] + fixture.frames) % fixture.frames);
      assert.ok(steps.every((d) => d >= 1 && d < fixture.frames / 2), `frame numbers ${ns_.join(',')}`);
    });

    await t.test('Opus speech arrives and is heard', async () => {
      // 16 kHz is a rate Opus takes: encoded as it is, no resampler.
      const audio = sender.events('audio')[0];
      assert.deepEqual([audio.rate, audio.resampled], [16000, false]);
      const first = await untilStats(page, (s) => s.audio && s.audio.packetsReceived > 0, { what: 'audio packets' });
      const later = await untilStats(page, (s) => s.audio.packetsReceived >= first.audio.packetsReceived + 50, { what: '50 more audio packets' });
      assert.ok(later.audio.packetsReceived > first.audio.packetsReceived);
      // The speech fixture has pauses: wait for sound, not for one sample.
      await untilStats(page, (s) => s.audio.audioLevel > 0.01, { what: 'an audio level above 0.01' });
    });

    await t.test('the PLI Janus sends when the viewer joined reached the RTCP callback', async () => {
      const kf = await sender.waitForEvent('keyframe', (e) => e.pli >= 1, { since: 0, timeoutMs: 5000 });
      assert.ok(kf.pli >= 1);
    });

    await t.test('Janus killed and restarted: the mountpoint is created again and a new viewer plays', async () => {
      const mark = sender.mark();
      await janus.stop({ sig: 'SIGKILL' });
      const lost = await sender.waitForEvent('lost', () => true, { since: mark, timeoutMs: 5000 });
      assert.match(lost.why, /Janus at http:\/\/127\.0\.0\.1:\d+\/janus: /);
      const down = await sender.waitForEvent('janus', (e) => e.state === 'unreachable', { since: mark, timeoutMs: 5000 });
      assert.match(down.why, /Janus at http:\/\/127\.0\.0\.1:\d+\/janus: /);
      janus = await startJanus(ns, { dir: join(dir, 'janus'), adminKey: ADMIN_KEY });
      // Its session is gone: that is how the client knows Janus restarted.
      await sender.waitForEvent('janus', (e) => /No such session/.test(e.why), { since: mark, timeoutMs: 10000 });
      const again = await sender.waitForEvent('ready', () => true, { since: mark, timeoutMs: 10000 });
      assert.equal(again.id, ID);
      const viewer = await openViewer(browser, origin, ID, { problems });
      await untilStats(viewer, (s) => s.video && s.video.framesDecoded > 30, { what: 'frames decoded after the restart' });
      assert.equal((await stats(viewer)).video.frameWidth, fixture.width);
    });

    await t.test('H.264 access units (single NAL units and FU-A) decode in Chromium', async () => {
      const h264 = await makeH264(join(dir, 'test.h264'), { width: 640, height: 360, fps: 30, seconds: 2 });
      const s264 = startSender(ns, ['--janus', janusUrl(), '--admin-key', ADMIN_KEY, '--id', String(ID + 1),
        '--h264', h264.path, '--fps', String(h264.fps)]);
      await s264.waitForEvent('ready', () => true, { since: 0 });
      const viewer = await openViewer(browser, origin, ID + 1, { problems });
      await untilStats(viewer, (s) => s.video && s.video.keyFramesDecoded >= 2 && s.video.framesDecoded > 45,
        { what: 'H.264 frames across two key frames' });
      const s = await stats(viewer);
      assert.equal(s.video.frameWidth, h264.width);
      assert.equal(s.video.packetsLost, 0);
      await viewer.close();
      assert.equal(await s264.stop(), 0);
      // More packets than frames: the IDRs (at least) went in FU-A fragments.
      const st = s264.events('stats').at(-1);
      assert.ok(st.video_packets > st.video_frames * 2, JSON.stringify(st));
    });

    await t.test('a mountpoint left behind by a sender that died is replaced, not refused', async () => {
      const first = startSender(ns, ['--janus', janusUrl(), '--admin-key', ADMIN_KEY, '--id', String(ID + 2),
        '--ivf', fixture.path]);
      await first.waitForEvent('ready', () => true, { since: 0 });
      await first.stop({ sig: 'SIGKILL' }); // no goodbye: the mountpoint stays in Janus
      const second = startSender(ns, ['--janus', janusUrl(), '--admin-key', ADMIN_KEY, '--id', String(ID + 2),
        '--ivf', fixture.path]);
      const ready = await second.waitForEvent('ready', () => true, { since: 0 });
      assert.equal(ready.id, ID + 2);
      assert.ok(second.lines.some((l) => l.includes(`mountpoint ${ID + 2} exists already; replacing it`)), second.tail());
      assert.equal(await second.stop(), 0);
    });

    await t.test('a wrong admin key is refused with Janus\'s reason', async () => {
      const bad = startSender(ns, ['--janus', janusUrl(), '--admin-key', 'not-the-key', '--id', String(ID + 3),
        '--ivf', fixture.path]);
      const failed = await bad.waitForEvent('failed', () => true, { since: 0 });
      assert.match(failed.why, /Janus refused to create it: Unauthorized \(wrong admin_key\) \(457\)/);
      assert.equal(await bad.stop(), 0);
    });

    await t.test('no Janus at the URL: a state with the reason, no crash', async () => {
      const lonely = startSender(ns, ['--janus', 'http://127.0.0.1:19602/janus', '--admin-key', ADMIN_KEY,
        '--ivf', fixture.path]);
      const down = await lonely.waitForEvent('janus', (e) => e.state === 'unreachable', { since: 0 });
      assert.match(down.why, /^Janus at http:\/\/127\.0\.0\.1:19602\/janus: cannot connect/);
      assert.ok(lonely.running);
      assert.equal(lonely.events('ready').length, 0);
      assert.equal(await lonely.stop(), 0);
    });

    await t.test('the sender destroys its mountpoint in Janus and exits cleanly', async () => {
      assert.equal(await sender.stop(), 0);
      const st = sender.events('stats').at(-1);
      assert.ok(st.video_frames > 100 && st.audio_packets > 100 && st.sender_reports > 0, JSON.stringify(st));
      assert.equal(st.janus, 'ready'); // to the end
      assert.equal(st.rtcp_bad, 0);
      // Gone from Janus, not just from the sender.
      await assert.rejects(openViewer(browser, origin, ID), /No such mountpoint/);
      assert.deepEqual(problems, []);
    });
  } finally {
    await ns.close();
    await rm(dir, { recursive: true, force: true });
  }
});
