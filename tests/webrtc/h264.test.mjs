// An H.264 file served with `framecast serve --janus`, in a network
// namespace of the test's own: the stream's mountpoint carries the file's
// own access units (RFC 6184), Chromium decodes them at their size, and
// framecast decodes and encodes nothing for it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Netns } from '../lib/netns.mjs';
import { janusUrl, openViewer, startJanus, startPages, stats } from '../lib/webrtc.mjs';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FRAMECAST = process.env.FRAMECAST_BIN || join(ROOT, 'build/framecast');
const ADMIN_KEY = 'test-admin-key';
const PORT = 19730; // the suite's range; inside the namespace it is free
const [W, H, FPS] = [640, 360, 20];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(get, pred, { timeoutMs = 15000, what }) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await get();
    if (pred(last)) return last;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last ${JSON.stringify(last)}`);
    await sleep(100);
  }
}

test('an H.264 file over WebRTC: its own access units reach Chromium, nothing decoded or encoded', { timeout: 120000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'framecast-webrtc-h264-'));
  const ns = await Netns.create();
  const problems = [];
  try {
    // A key frame a second, parameter sets in the MP4's extradata only: the
    // passthrough puts them before each IDR for the viewers.
    const mp4 = join(dir, 'cam.mp4');
    execFileSync('ffmpeg', ['-loglevel', 'error', '-y', '-f', 'lavfi', '-i', `testsrc2=size=${W}x${H}:rate=${FPS}`,
      '-t', '4', '-c:v', 'libx264', '-profile:v', 'baseline', '-preset', 'ultrafast', '-g', String(FPS), mp4]);
    await startJanus(ns, { dir: join(dir, 'janus'), adminKey: ADMIN_KEY });
    const fc = ns.spawn(FRAMECAST, ['serve', '--host', '127.0.0.1', '--port', String(PORT), '--synthetic', '0',
      '--source', `file:${mp4},loop,id=cam`, '--db', ':memory:', '--load-admission', 'off',
      '--web-root', join(ROOT, 'web'), '--janus', janusUrl(), '--janus-admin-key', ADMIN_KEY], { label: 'framecast' });
    const ready = await fc.waitFor((l) => /stream cam: WebRTC on Janus mountpoint \d+ \(the camera's H\.264/.test(l),
      { timeoutMs: 15000, what: 'the H.264 mountpoint' });
    const id = Number(ready.match(/mountpoint (\d+)/)[1]);
    const stream = () => JSON.parse(ns.exec('curl', ['-sf', `http://127.0.0.1:${PORT}/api/streams/cam`]));
    const w = stream().webrtc;
    assert.deepEqual([w.available, w.mountpoint, w.codec], [true, id, 'h264']);

    const { origin } = await startPages(ns);
    const browser = await ns.chromium();
    const page = await openViewer(browser, origin, id, { problems });
    const a = await until(() => stats(page), (s) => s.video && s.video.framesDecoded > 2 * FPS, { what: 'decoded frames' });
    assert.deepEqual([a.video.frameWidth, a.video.frameHeight], [W, H]);
    const b = await until(() => stats(page), (s) => s.video.framesDecoded > a.video.framesDecoded + FPS,
      { what: 'frames decoded on' });
    assert.ok(b.video.framesDecoded > a.video.framesDecoded);

    // What went out was the file's own: read, passed through, never decoded.
    const s = stream();
    assert.equal(s.input.frames_decoded, 0, JSON.stringify(s.input));
    assert.ok(s.h264.access_units > 2 * FPS, JSON.stringify(s.h264));
    assert.ok(s.webrtc.frames_sent > 2 * FPS && s.webrtc.send_errors === 0, JSON.stringify(s.webrtc));
    await page.close();
    assert.equal(await fc.stop(), 0, fc.tail());
    assert.deepEqual(problems, []);
  } finally {
    await ns.close();
    await rm(dir, { recursive: true, force: true });
  }
});
