// Files, RTSP cameras and broken inputs as streams, end to end: a real
// framecast on a loopback port, real WebSocket subscribers, a real RTSP camera
// (tests/lib/rtsp_server.py, GStreamer) that the tests kill, freeze and
// restart, fixtures made at test time by Debian's ffmpeg
// (tests/sources/make-fixtures.sh).
//
// Runs inside a network namespace of its own (tests/lib/in-netns): only
// loopback exists, so the unresolvable camera's lookup stays on the machine.
// Every wait is for a condition, bounded; rates are checked on the frames'
// ids and capture times, not on how long the test took.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Server, Subscriber, FIXTURES, until } from '../lib/server.mjs';
import { Camera } from '../lib/camera.mjs';
import { decodeVp8, isKey } from '../lib/vp8.mjs';

const MAKE_FIXTURES = new URL('../sources/make-fixtures.sh', import.meta.url).pathname;
let dir;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'fc-sources-'));
  execFileSync('sh', [MAKE_FIXTURES, dir, `${FIXTURES}face-astronaut.png`], { stdio: 'inherit' });
});

after(() => rmSync(dir, { recursive: true, force: true }));

const fx = (name) => join(dir, name);
const streamOf = async (srv, id) => (await srv.json(`/api/streams/${id}`));

// A subscriber that also keeps the order of texts and frames, and each
// frame's JPEG size (from its SOF marker).
class Watcher extends Subscriber {
  constructor(url) {
    super(url);
    this.keepPayload = true;
    this.order = [];
    this.ws.on('message', (data, isBinary) => {
      if (!isBinary) {
        this.order.push({ text: this.texts.at(-1) });
        return;
      }
      const f = this.frames.at(-1);
      Object.assign(f, jpegSize(f.payload));
      f.payload = null;
      this.order.push({ frame: f });
    });
  }

  formats() {
    return this.texts.filter((t) => t.type === 'format');
  }

  // Every frame is of the size the last hello or format message said, and
  // enough frames came to make that mean something.
  assertFramesMatchFormat() {
    let said = this.hello(), checked = 0;
    for (const m of this.order) {
      if (m.text && (m.text.type === 'format' || m.text.type === 'hello')) said = m.text;
      if (!m.frame || !said.width) continue;
      assert.deepEqual([m.frame.width, m.frame.height], [said.width, said.height], `frame ${m.frame.id}`);
      checked++;
    }
    assert.ok(checked > 30, `${checked} frames checked`);
  }
}

function jpegSize(b) {
  for (let i = 2; i + 9 < b.length;) {
    if (b[i] !== 0xff) return {};
    const marker = b[i + 1];
    if (marker >= 0xc0 && marker <= 0xc3) return { height: b.readUInt16BE(i + 5), width: b.readUInt16BE(i + 7) };
    i += 2 + b.readUInt16BE(i + 2);
  }
  return {};
}

// Of a subscriber's frames (received in order): the share of the ids in
// their span that arrived, and their rate by capture time.
function delivery(frames) {
  const a = frames[0], b = frames.at(-1);
  return {
    share: frames.length / (b.id - a.id + 1),
    fps: (frames.length - 1) / (b.ts - a.ts),
    span: b.id - a.id + 1,
  };
}

test('two subscribers on a looping file get >= 90% of its frames at its rate, ids increasing across the loop', async () => {
  // 2 s at 30 fps: 60 frames a pass.
  const srv = await new Server(['--synthetic', '0', '--source', `file:${fx('h264.mp4')},loop,id=lobby`]).start();
  try {
    const subs = [new Subscriber(`${srv.ws}/ws/streams/lobby`), new Subscriber(`${srv.ws}/ws/streams/lobby`)];
    await Promise.all(subs.map((s) => s.opened));
    await until(() => subs.every((s) => s.frames.length >= 150), { timeoutMs: 20000, what: '150 frames each' });
    for (const s of subs) {
      assert.deepEqual(s.errors, []); // ids strictly increasing, lengths right
      const d = delivery(s.frames);
      assert.ok(d.span > 120, `${d.span} ids: more than two passes of 60`);
      assert.ok(d.share >= 0.9, `got ${(d.share * 100).toFixed(1)}% of the frames`);
      assert.ok(Math.abs(d.fps - 30) <= 3, `captured at ${d.fps.toFixed(2)} fps, not the file's 30`);
      for (let i = 1; i < s.frames.length; i++) assert.ok(s.frames[i].ts > s.frames[i - 1].ts, 'capture times increase');
      const hello = s.hello();
      assert.equal(hello.codec, 'jpeg');
    }
    const st = await streamOf(srv, 'lobby');
    assert.equal(st.state, 'live');
    assert.equal(st.input.codec, 'h264');
    assert.deepEqual([st.width, st.height, st.input.fps], [320, 240, 30]);
    await Promise.all(subs.map((s) => s.close()));
    // Nobody left: the file pauses where it is.
    await until(async () => (await streamOf(srv, 'lobby')).state === 'idle', { what: 'the file to pause' });
  } finally {
    await srv.stop();
  }
});

test('the face in a video file is detected and tracked through the server, on both views', async () => {
  // The face fixture moves right at 60 px/s across a 640x360 picture for 4 s;
  // synthetic:video pans and zooms over the same file at the size asked.
  const srv = await new Server(['--synthetic', '0', '--source', `file:${fx('face.mp4')},loop,id=face,detect=5`,
    '--source', `synthetic:video=${fx('face.mp4')},size=320x180,fps=15,id=pan,detect=5`]).start();
  try {
    const full = new Subscriber(`${srv.ws}/ws/streams/face`);
    const ptz = new Subscriber(`${srv.ws}/ws/streams/face?view=ptz`);
    await Promise.all([full.opened, ptz.opened]);
    const events = () => full.texts.filter((t) => t.type === 'detections' && t.faces.length > 0);
    // One pass of the file moves the face 240 px; its track must hold for 2 s of it.
    const longestTrack = () => {
      const seen = new Map();
      for (const e of events())
        for (const f of e.faces) {
          const t = seen.get(f.id) || { first: e.timestamp, last: e.timestamp, n: 0 };
          t.last = e.timestamp;
          t.n++;
          seen.set(f.id, t);
        }
      return Math.max(0, ...[...seen.values()].map((t) => t.last - t.first));
    };
    await until(() => longestTrack() >= 2, { timeoutMs: 20000, what: 'one track id held for 2 s' });
    const moved = events().map((e) => e.faces[0].box[0]);
    assert.ok(Math.max(...moved) - Math.min(...moved) > 60, `the box moved with the face: ${moved}`);
    const d = (await streamOf(srv, 'face')).detection;
    assert.ok(d.inferences_with_faces >= 5, JSON.stringify(d));
    assert.deepEqual(d.model_input, [128, 80]); // the band a 16:9 picture fills
    await until(() => ptz.frames.length >= 10, { what: 'PTZ frames' });
    assert.ok(ptz.texts.some((t) => t.type === 'detections'), 'PTZ subscribers get the events too');
    assert.deepEqual([...full.errors, ...ptz.errors], []);

    const pan = new Watcher(`${srv.ws}/ws/streams/pan`);
    await pan.opened;
    await until(() => pan.frames.length >= 30 && pan.texts.some((t) => t.type === 'detections' && t.faces.length),
      { timeoutMs: 20000, what: 'panned frames with a face in them' });
    assert.deepEqual([pan.hello().width, pan.hello().height], [320, 180]);
    assert.ok(pan.frames.every((f) => f.width === 320 && f.height === 180));
    const d2 = delivery(pan.frames);
    assert.ok(Math.abs(d2.fps - 15) <= 1.5, `synthetic:video at ${d2.fps.toFixed(2)} fps, not the 15 asked`);
    assert.deepEqual(pan.errors, []);
  } finally {
    await srv.stop();
  }
});

test('a resolution change reaches subscribers as a format message before its first frame; detection follows', async () => {
  // 1 s at 320x240, then 1 s at 480x272, looped.
  const srv = await new Server(['--synthetic', '0', '--motion-threshold', '0', '--source',
    `file:${fx('size-change.ts')},loop,id=sizes,detect=10`]).start();
  try {
    const w = new Watcher(`${srv.ws}/ws/streams/sizes`);
    await w.opened;
    await until(() => w.formats().length >= 4, { timeoutMs: 20000, what: 'four format messages' });
    const sizes = new Set(w.formats().map((f) => `${f.width}x${f.height}`));
    assert.deepEqual([...sizes].sort(), ['320x240', '480x272']);
    w.assertFramesMatchFormat();
    for (const f of w.formats()) {
      assert.equal(f.source_codec, 'h264');
      assert.equal(f.codec, 'jpeg');
      assert.equal(f.stream, 'sizes');
    }
    assert.deepEqual(w.errors, []);
    // Detection ran on both sizes without a failure.
    const before = (await streamOf(srv, 'sizes')).detection.inferences;
    await until(async () => (await streamOf(srv, 'sizes')).detection.inferences > before + 10, { what: 'inferences to go on' });
    assert.equal(await srv.metric('fc_stream_errors_total', { stream: 'sizes' }), 0);
    // Detection takes the raw frames on the loop: no encode in the decode job.
    assert.equal(await srv.metric('fc_stream_fused_encodes_total', { stream: 'sizes' }), 0);
  } finally {
    await srv.stop();
  }
});

test('one JPEG viewer of a camera without detection: decode and encode in one job, frames in order and of the size said, through size changes and viewers leaving mid-job', async () => {
  const srv = await new Server(['--synthetic', '0', '--source', `file:${fx('size-change.ts')},loop,id=fused`]).start();
  try {
    const w = new Watcher(`${srv.ws}/ws/streams/fused`);
    await w.opened;
    await until(() => w.formats().length >= 3, { timeoutMs: 20000, what: 'three format messages' });
    const fused = await srv.metric('fc_stream_fused_encodes_total', { stream: 'fused' });
    const encoded = await srv.metric('fc_stream_frames_encoded_total', { stream: 'fused' });
    // The first frame of each size goes the long way; nearly all the others are fused.
    assert.ok(fused > 0.8 * encoded, `${fused} of ${encoded} encodes fused`);
    w.assertFramesMatchFormat();
    assert.deepEqual(w.errors, []); // ids increasing, lengths right
    // Viewers that leave right after their first frame close the output
    // while a decode job may hold its encode; the server goes on, and stops cleanly.
    for (let i = 0; i < 8; i++) {
      const v = new Watcher(`${srv.ws}/ws/streams/fused`);
      await v.opened;
      await until(() => v.frames.length >= 1, { timeoutMs: 10000, what: 'a first frame' });
      await v.close();
    }
    const late = new Watcher(`${srv.ws}/ws/streams/fused`);
    await late.opened;
    await until(() => late.frames.length >= 10, { timeoutMs: 10000, what: 'frames after the churn' });
    assert.deepEqual(late.errors, []);
    assert.equal(await srv.metric('fc_stream_errors_total', { stream: 'fused' }), 0);
    // Shut down with a viewer on: jobs in flight, a reserved encode among them.
    assert.equal(await srv.stop(), 0);
  } finally {
    await srv.stop();
  }
});

// RFC 6386, 9.1: a key frame's size follows its start code, 14 bits each.
const vp8KeySize = (p) => [p.readUInt16LE(6) & 0x3fff, p.readUInt16LE(8) & 0x3fff];

test('VP8 of a file that changes size: each format message names the new coded size, a key frame of that size follows, and every frame decodes', async () => {
  const srv = await new Server(['--synthetic', '0', '--source',
    `file:${fx('size-change.ts')},loop,id=sizes`]).start();
  try {
    const s = new Subscriber(`${srv.ws}/ws/streams/sizes?codec=vp8&quality=high`);
    const order = [];
    s.ws.on('message', (data, isBinary) => {
      if (!isBinary) order.push({ text: JSON.parse(data.toString()) });
      else order.push({ payload: Buffer.from(data.subarray(16)) });
    });
    await s.opened;
    const formats = () => order.filter((m) => m.text?.type === 'format').map((m) => m.text);
    await until(() => formats().length >= 3 && !order.at(-1).text,
      { timeoutMs: 20000, what: 'three format messages and a frame after the last' });
    // Segments of frames, each after the hello or format message that describes them.
    const segments = [];
    for (const m of order) {
      if (m.text?.type === 'hello' || m.text?.type === 'format') segments.push({ said: m.text, frames: [] });
      else if (m.payload) segments.at(-1).frames.push(m.payload);
    }
    let checked = 0;
    for (const { said, frames } of segments) {
      if (frames.length === 0) continue;
      assert.equal(said.codec, 'vp8');
      assert.equal(said.codec_string, 'vp8');
      assert.ok(isKey(frames[0]), `the first frame after the ${said.type} is a key frame`);
      assert.deepEqual(vp8KeySize(frames[0]), [said.coded_width, said.coded_height]);
      assert.deepEqual([said.coded_width, said.coded_height], [said.width, said.height]);
      const d = await decodeVp8(frames, said.coded_width, said.coded_height);
      assert.equal(d.code, 0, d.stderr);
      assert.equal(d.md5s.length, frames.length);
      checked++;
    }
    assert.ok(checked >= 3, `${checked} segments decoded`);
    const sizes = new Set(formats().map((f) => `${f.coded_width}x${f.coded_height}`));
    assert.deepEqual([...sizes].sort(), ['320x240', '480x272']);
    assert.deepEqual(s.errors, []);
  } finally {
    await srv.stop();
  }
});

test('detection alone decodes key frames only; a viewer gets the newest frame at once, then every frame', async () => {
  // A key frame every 1.5 s; detection at 0.5 Hz is content with them.
  const srv = await new Server(['--synthetic', '0', '--source', `file:${fx('gop45.mp4')},loop,id=keys,detect=0.5`]).start();
  try {
    await until(async () => (await streamOf(srv, 'keys')).input.key_frames_only, { timeoutMs: 15000, what: 'key-frame-only decoding' });
    const a = (await streamOf(srv, 'keys')).input;
    await until(async () => (await streamOf(srv, 'keys')).input.key_frames_decoded >= a.key_frames_decoded + 2,
      { timeoutMs: 15000, what: 'two more key frames' });
    const b = (await streamOf(srv, 'keys'));
    assert.equal(b.input.frames_decoded - a.frames_decoded, b.input.key_frames_decoded - a.key_frames_decoded,
      'nothing but key frames decoded');
    assert.ok(Math.abs(b.input.key_interval - 1.5) < 0.1, `key interval ${b.input.key_interval}`);
    assert.equal(await srv.metric('fc_source_key_frames_only', { stream: 'keys' }), 1);
    assert.ok(b.detection.inferences >= 1);

    // A viewer: the frame kept from before it came (captured before it
    // subscribed), then every frame from the next key frame on.
    const joined = Date.now() / 1000;
    const s = new Subscriber(`${srv.ws}/ws/streams/keys`);
    await s.opened;
    await until(() => s.frames.length >= 45, { timeoutMs: 15000, what: '45 frames' });
    assert.ok(s.frames[0].ts < joined, `the first frame (captured ${s.frames[0].ts}) was kept from before the join (${joined})`);
    const c = (await streamOf(srv, 'keys')).input;
    assert.equal(c.key_frames_only, false);
    assert.ok(c.frames_decoded - b.input.frames_decoded > 2 * (c.key_frames_decoded - b.input.key_frames_decoded));
    assert.deepEqual(s.errors, []);
    await s.close();
    await until(async () => (await streamOf(srv, 'keys')).input.key_frames_only, { timeoutMs: 15000, what: 'key frames only again' });
  } finally {
    await srv.stop();
  }
});

test('a camera nobody watches has no RTSP session; one opens for a viewer and closes --idle-close after it', async () => {
  const cam = await Camera.start(['--size', '320x240', '--gop', '15']);
  const srv = await new Server(['--synthetic', '0', '--idle-close', '1', '--source', `${cam.url},id=door`]).start();
  try {
    // No preflight: the server is up and the camera has seen nobody (the
    // count at the end shows no session opened before the first viewer).
    assert.equal((await streamOf(srv, 'door')).state, 'idle');
    for (let round = 1; round <= 2; round++) {
      const s = new Subscriber(`${srv.ws}/ws/streams/door`);
      await s.opened;
      await cam.waitFor('connected', round);
      await until(() => s.frames.length >= 10, { timeoutMs: 15000, what: 'frames from the camera' });
      assert.equal((await streamOf(srv, 'door')).state, 'live');
      await s.close();
      await cam.waitFor('closed', round);
      await until(async () => (await streamOf(srv, 'door')).state === 'idle', { what: 'idle' });
    }
    assert.equal(cam.connected(), 2, 'one RTSP session per viewing, none before');
    assert.equal(cam.open(), 0);
  } finally {
    await srv.stop();
    await cam.stop();
  }
});

test('a camera killed is retrying with the reason; back (at another size) it is live again and viewers get frames', async () => {
  let cam = await Camera.start(['--size', '320x240', '--gop', '15']);
  const port = cam.port;
  const srv = await new Server(['--synthetic', '0', '--source', `${cam.url},id=yard`]).start();
  try {
    const w = new Watcher(`${srv.ws}/ws/streams/yard`);
    await w.opened;
    await until(() => w.frames.length >= 10, { timeoutMs: 15000, what: 'frames' });
    await cam.stop('SIGKILL');
    await until(async () => (await streamOf(srv, 'yard')).state === 'retrying', { timeoutMs: 15000, what: 'retrying' });
    const down = await streamOf(srv, 'yard');
    assert.ok(down.error, 'the reason is in /api/streams');
    await until(async () => (await streamOf(srv, 'yard')).reconnects >= 1, { timeoutMs: 15000, what: 'a reconnect attempt' });
    const before = w.frames.length, lastId = w.frames.at(-1).id;
    cam = await Camera.start(['--port', String(port), '--size', '480x272', '--gop', '15']);
    // The next attempt comes within the backoff (0.5 s doubling; a few
    // attempts so far).
    await until(async () => (await streamOf(srv, 'yard')).state === 'live', { timeoutMs: 20000, what: 'live again' });
    await until(() => w.frames.length >= before + 10, { timeoutMs: 15000, what: 'frames again' });
    assert.ok(w.frames[before].id > lastId, 'ids go on after the reconnect');
    assert.ok(w.formats().some((f) => f.width === 480 && f.height === 272), JSON.stringify(w.formats()));
    assert.deepEqual([w.frames.at(-1).width, w.frames.at(-1).height], [480, 272]);
    assert.deepEqual(w.errors, []);
    assert.ok(await srv.metric('fc_source_reconnects_total', { stream: 'yard' }) >= 1);
    assert.equal(await srv.metric('fc_source_state', { stream: 'yard', state: 'live' }), 1);
  } finally {
    await srv.stop();
    await cam.stop();
  }
});

test('a frozen camera (SIGSTOP) trips the watchdog; thawed, it is live again', async () => {
  const cam = await Camera.start(['--size', '320x240', '--gop', '15']);
  const srv = await new Server(['--synthetic', '0', '--source', `${cam.url},timeout=1,id=hall`]).start();
  try {
    const s = new Subscriber(`${srv.ws}/ws/streams/hall`);
    await s.opened;
    await until(() => s.frames.length >= 10, { timeoutMs: 15000, what: 'frames' });
    cam.signal('SIGSTOP');
    await until(async () => (await streamOf(srv, 'hall')).state === 'retrying', { timeoutMs: 15000, what: 'retrying' });
    assert.match((await streamOf(srv, 'hall')).error, /stalled/);
    const before = s.frames.length;
    cam.signal('SIGCONT');
    await until(async () => (await streamOf(srv, 'hall')).state === 'live', { timeoutMs: 30000, what: 'live again' });
    await until(() => s.frames.length >= before + 10, { timeoutMs: 15000, what: 'frames again' });
    assert.ok((await streamOf(srv, 'hall')).reconnects >= 1);
    assert.deepEqual(s.errors, []);
  } finally {
    cam.signal('SIGCONT');
    await srv.stop();
    await cam.stop();
  }
});

// TCP servers on loopback that speak no RTSP: one accepts and never sends,
// one answers whatever it is asked with a status line and then junk, and
// hangs up.
async function fakeCamera(garbage) {
  const sockets = new Set();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('error', () => {});
    sock.on('close', () => sockets.delete(sock));
    if (garbage) sock.once('data', () => sock.end(Buffer.concat([Buffer.from('RTSP/1.0 200 OK\r\nCSeq: 1\r\n\r\n'), randomBytes(4096)])));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: server.address().port,
    close: () => { for (const s of sockets) s.destroy(); return new Promise((r) => server.close(r)); },
  };
}

async function freePort() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

test('every bad input ends in a clear state and error, credentials never shown, while a good stream keeps its rate', async () => {
  const cam = await Camera.start(['--size', '320x240', '--user', 'viewer', '--password', 'rightpass']);
  const silent = await fakeCamera(false), garbage = await fakeCamera(true);
  const refused = await freePort();
  const host = `127.0.0.1:${cam.port}`;
  // [id, spec, state, what the error says, whether it needs a viewer to be tried]
  const cases = [
    ['missing', `file:${fx('missing.mp4')}`, 'failed', /No such file or directory/, false],
    ['empty', `file:${fx('empty.mp4')}`, 'failed', /open: /, false],
    ['moov', `file:${fx('truncated-moov.mp4')}`, 'failed', /moov atom not found/, false],
    ['random', `file:${fx('random.bin')}`, 'failed', /Invalid data found/, false],
    ['audio', `file:${fx('audio-only.wav')}`, 'failed', /no video stream/, false],
    ['ffv1', `file:${fx('ffv1.mkv')}`, 'failed', /video codec 'ffv1' is not supported/, false],
    ['cut', `file:${fx('truncated.mp4')}`, 'ended', null, true],
    ['corrupt', `file:${fx('corrupt-middle.mp4')}`, 'ended', /corrupt|decode/, true],
    ['unauthorized', `rtsp://viewer:wrongsecret@${host}/stream`, 'failed', /401|[Uu]nauthorized/, true],
    ['nopath', `rtsp://viewer:rightpass@${host}/no-such-path`, 'failed', /404|[Nn]ot [Ff]ound/, true],
    ['nohost', 'rtsp://no-such-camera.invalid/stream,timeout=2', 'retrying', /resolve/, true],
    ['silent', `rtsp://127.0.0.1:${silent.port}/x,timeout=1`, 'retrying', /stalled/, true],
    ['garbage', `rtsp://127.0.0.1:${garbage.port}/x,timeout=1`, 'retrying', /Invalid data/, true],
    ['down', `rtsp://127.0.0.1:${refused}/x`, 'retrying', /Connection refused/, true],
    ['usb', 'v4l2:/dev/video-framecast-test', 'retrying', /No such file or directory/, true],
    ['ndi', 'ndi:Studio A,id=ndi', 'failed', /unknown source type 'ndi'/, false],
  ];
  const args = ['--synthetic', '0', '--source', `file:${fx('h264.mp4')},loop,id=good`];
  for (const [id, spec] of cases) args.push('--source', spec.startsWith('ndi:') ? spec : `${spec},id=${id}`);
  const srv = await new Server(args).start();
  const viewers = [];
  try {
    const good = new Subscriber(`${srv.ws}/ws/streams/good`);
    await good.opened;
    await until(() => good.frames.length >= 5, { what: 'the good stream' });
    const from = good.frames.length;
    // A broken file says so before anybody asks; cameras are tried when watched.
    for (const [id, , state, , watch] of cases) {
      if (watch) {
        const v = new Subscriber(`${srv.ws}/ws/streams/${id}`);
        viewers.push(v);
        await v.opened;
      } else {
        await until(async () => (await streamOf(srv, id)).state === state, { timeoutMs: 10000, what: `${id}: ${state}` });
      }
    }
    // A retrying source goes back to "connecting" at every attempt, so each
    // check is made on one snapshot taken while it is in the state awaited,
    // never on a second look that may fall inside the next attempt.
    for (const [id, , state, error] of cases) {
      const inState = async () => { const st = await streamOf(srv, id); return st.state === state && st; };
      const st = await until(inState, { timeoutMs: 30000, what: `${id}: ${state}` });
      if (error) assert.match(st.error || '', error, `${id}: ${JSON.stringify(st)}`);
      if (state === 'retrying') {
        await until(async () => (await inState())?.reconnects >= 1, { timeoutMs: 30000, what: `${id}: a reconnect while ${state}` });
      }
      await until(async () => (await srv.metric('fc_source_state', { stream: id, state })) === 1, { timeoutMs: 30000, what: `${id}: fc_source_state{state="${state}"} = 1` });
    }
    assert.ok((await streamOf(srv, 'corrupt')).input.decode_errors > 0);
    assert.ok((await streamOf(srv, 'cut')).frames_produced >= 20);
    // Credentials appear nowhere.
    const all = JSON.stringify(await srv.json('/api/streams')) + (await srv.text('/metrics')).body + srv.log;
    assert.ok(!all.includes('wrongsecret') && !all.includes('rightpass'), 'a password was shown');
    assert.ok(all.includes('rtsp://***@'), 'the camera is shown redacted');
    // The good stream kept its rate all along.
    assert.deepEqual(good.errors, []);
    const d = delivery(good.frames.slice(from));
    assert.ok(good.frames.length - from > 60, `${good.frames.length - from} frames meanwhile`);
    assert.ok(d.share >= 0.9, `the good stream got ${(d.share * 100).toFixed(1)}% of its frames`);
    assert.ok(Math.abs(d.fps - 30) <= 3, `the good stream ran at ${d.fps.toFixed(2)} fps`);
    assert.equal(srv.proc.exitCode, null);
    // Shutdown waits for every source's thread, whatever state it is in.
    assert.equal(await srv.stop(), 0);
  } finally {
    for (const v of viewers) v.ws.terminate();
    await srv.stop();
    await Promise.all([cam.stop(), silent.close(), garbage.close()]);
  }
});
