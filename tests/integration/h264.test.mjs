// H.264 passthrough end to end (issue 14 item 4): codec=h264 subscribers of a
// file or an RTSP camera get the camera's own access units, not decoded and
// not encoded again. Checked with an independent decoder (Debian's ffmpeg on
// an Annex-B file the test writes) and against the fixture's own access units
// (ffmpeg -c copy -bsf:v h264_mp4toannexb), with the source's decoded-frame
// counter proving that nothing is decoded until a JPEG subscriber needs
// pixels. Every wait is for a condition, bounded.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Server, Subscriber, FIXTURES, until } from '../lib/server.mjs';
import { Camera } from '../lib/camera.mjs';
import { annexbOf, decodeH264, isIdr, nalTypes, probeH264 } from '../lib/h264.mjs';

const MAKE_FIXTURES = new URL('../sources/make-fixtures.sh', import.meta.url).pathname;
let dir;
const fx = (name) => join(dir, name);

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'fc-h264-'));
  execFileSync('sh', [MAKE_FIXTURES, dir, `${FIXTURES}face-astronaut.png`], { stdio: 'inherit' });
  // 720p at a high bitrate (~100 KB an access unit): a stalled socket's
  // kernel buffers fill within seconds.
  execFileSync('ffmpeg', ['-nostdin', '-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i',
    'testsrc2=size=1280x720:rate=30', '-t', '2', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p',
    '-g', '15', '-keyint_min', '15', '-sc_threshold', '0', '-bf', '0', '-b:v', '25M', '-movflags', '+faststart', fx('big.mp4')]);
});

after(() => rmSync(dir, { recursive: true, force: true }));

function h264Sub(url, opts) {
  const s = new Subscriber(url, opts);
  s.keepPayload = true;
  s.order = [];
  s.ws.on('message', (data, isBinary) => {
    s.order.push(isBinary ? { frame: data.readUInt32BE(0) } : JSON.parse(data.toString()));
  });
  return s;
}

const stream = (srv, id) => srv.json(`/api/streams/${id}`);
const decoded = (srv, id) => srv.metric('fc_source_frames_decoded_total', { stream: id });

test('codec=h264 of a file: the file\'s own access units, a key frame first, decodable; nothing decoded until a JPEG subscriber needs pixels', async () => {
  const srv = await new Server(['--synthetic', '0', '--source', `file:${fx('h264.mp4')},loop,id=lobby`]).start();
  try {
    const before = await stream(srv, 'lobby');
    assert.deepEqual(before.codecs, ['jpeg', 'webp', 'vp8', 'h264']);
    const a = h264Sub(`${srv.ws}/ws/streams/lobby?codec=h264`);
    await until(() => a.frames.length >= 45, { timeoutMs: 15000, what: '45 access units' });
    const hello = a.hello();
    assert.equal(hello.codec, 'h264');
    assert.equal(hello.quality, 'high', 'one tier: the camera\'s');
    // The codec string and size come from the SPS of the first IDR access
    // unit, in a format message before it (the hello came before any).
    const probe = await probeH264(fx('h264.mp4'));
    const fmt = a.texts.find((t) => t.type === 'format');
    assert.ok(fmt, JSON.stringify(a.texts));
    assert.match(fmt.codec_string, /^avc1\.[0-9A-F]{6}$/);
    assert.equal(parseInt(fmt.codec_string.slice(5, 7), 16), probe.pp, `profile of ${fmt.codec_string} vs ffprobe's ${probe.profile}`);
    assert.equal(parseInt(fmt.codec_string.slice(9, 11), 16), probe.ll, `level of ${fmt.codec_string} vs ffprobe's ${probe.level}`);
    assert.deepEqual([fmt.width, fmt.height, fmt.coded_width, fmt.coded_height], [probe.width, probe.height, 320, 240]);
    assert.equal(fmt.fps, 30);
    assert.equal(a.order.findIndex((m) => m.type === 'format') < a.order.findIndex((m) => m.frame !== undefined), true);
    assert.deepEqual(a.errors, []);

    // The first access unit is an IDR one with its SPS and PPS in-band.
    const first = a.frames[0].payload;
    assert.ok(isIdr(first), `first access unit's NAL types ${nalTypes(first)}`);
    assert.ok(nalTypes(first).includes(7) && nalTypes(first).includes(8));
    // Not re-encoded: every access unit received is one of the file's own,
    // byte for byte.
    const ref = await annexbOf(fx('h264.mp4'));
    for (const f of a.frames.slice(0, 45)) assert.ok(ref.indexOf(f.payload) >= 0, `access unit ${f.id} (${f.len} bytes) is not the file's`);
    const { code, stderr, md5s } = await decodeH264(a.frames.slice(0, 45).map((f) => f.payload));
    assert.equal(code, 0, stderr);
    assert.equal(stderr, '');
    assert.equal(md5s.length, 45, 'every access unit decoded to a picture');
    assert.ok(new Set(md5s).size > 40, 'the pictures change');

    // Only h264 subscribers: the source decodes nothing.
    assert.equal(await decoded(srv, 'lobby'), 0);
    let st = await stream(srv, 'lobby');
    assert.equal(st.input.frames_decoded, 0);
    assert.equal(st.h264.subscribers, 1);
    assert.ok(st.h264.key_frames >= 3 && st.h264.published >= 45, JSON.stringify(st.h264));
    assert.equal(st.h264.params_prepended, 0, 'the file\'s key frames carry theirs');
    assert.equal(await srv.metric('fc_passthrough_subscribers', { stream: 'lobby' }), 1);
    assert.ok(await srv.metric('fc_passthrough_access_units_total', { stream: 'lobby' }) >= 45);
    assert.equal(await srv.metric('fc_passthrough_params_prepended_total', { stream: 'lobby' }), 0);

    // A JPEG subscriber needs pixels: decoding starts ...
    const jpeg = new Subscriber(`${srv.ws}/ws/streams/lobby`);
    await until(() => jpeg.frames.length >= 10, { timeoutMs: 15000, what: 'JPEG frames' });
    assert.ok(await decoded(srv, 'lobby') >= 10);
    await jpeg.close();
    // ... and stops once it left: the counter stands still while the h264
    // subscriber goes on receiving (in-flight pictures may finish first).
    let last = -1, at = 0;
    await until(async () => {
      const n = await decoded(srv, 'lobby');
      if (n !== last) { last = n; at = a.frames.length; return false; }
      return a.frames.length >= at + 15;
    }, { timeoutMs: 15000, everyMs: 100, what: 'decoding to stop with the JPEG subscriber gone' });
    const mark = a.frames.length;
    await until(() => a.frames.length >= mark + 30, { timeoutMs: 15000, what: '30 more access units' });
    assert.equal(await decoded(srv, 'lobby'), last, 'nothing decoded with only h264 subscribers');
    st = await stream(srv, 'lobby');
    assert.equal(st.subscribers, 1);

    // A later joiner's first access unit is a key frame too, and it is told
    // the codec string in its hello.
    const b = h264Sub(`${srv.ws}/ws/streams/lobby?codec=h264`);
    await until(() => b.frames.length >= 5, { timeoutMs: 15000, what: 'the joiner\'s frames' });
    assert.equal(b.hello().codec_string, fmt.codec_string);
    assert.equal(b.hello().coded_width, 320);
    assert.ok(isIdr(b.frames[0].payload), 'the joiner starts at an IDR access unit');
    await Promise.all([a.close(), b.close()]);
    await until(async () => (await stream(srv, 'lobby')).subscribers === 0, { what: 'the subscribers to leave' });
  } finally {
    assert.equal(await srv.stop(), 0);
  }
});

test('codec=h264 of a synthetic stream is refused with the reason; it offers no h264', async () => {
  const srv = await new Server(['--synthetic', '1', '--size', '320x180']).start();
  try {
    const s = new Subscriber(`${srv.ws}/ws/streams/cam0?codec=h264`);
    const closed = await s.closed;
    assert.equal(closed.code, 4400);
    assert.equal(closed.reason, "stream 'cam0' is not H.264 (its codecs: jpeg, webp, vp8)");
    const st = await stream(srv, 'cam0');
    assert.deepEqual(st.codecs, ['jpeg', 'webp', 'vp8']);
    assert.equal(st.h264, null);
  } finally {
    assert.equal(await srv.stop(), 0);
  }
});

// With several loops the event that says why crosses to the other loop
// through its relay; the close must go with it (it used to stay behind:
// a viewer there got the error and was left open with nothing to come).
test('--loops 2: codec=h264 subscribers on both loops of a camera that turns out not to be H.264 are each told once and closed', async () => {
  const cam = await Camera.start(['--size', '320x240', '--codec', 'vp8']);
  const srv = await new Server(['--synthetic', '0', '--loops', '2', '--source', `${cam.url},id=web`]).start();
  try {
    // Asked for at once, before the camera is opened: the least loaded loop
    // takes each, so both loops have some.
    const subs = [0, 1, 2, 3].map(() => new Subscriber(`${srv.ws}/ws/streams/web?codec=h264`));
    await Promise.all(subs.map((s) => s.opened));
    // A counter, so it still counts them once they are closed.
    assert.ok(await srv.metric('fc_websocket_accepted_total', { loop: '1' }) >= 1, 'a viewer on the second loop');
    const ends = subs.map(() => null);
    subs.forEach((s, i) => s.closed.then((c) => { ends[i] = c; }));
    await until(() => ends.every(Boolean), { timeoutMs: 15000, what: 'every subscriber closed' });
    for (const [i, s] of subs.entries()) {
      const closed = ends[i];
      assert.equal(closed.code, 4400);
      assert.equal(closed.reason, 'stream is not H.264');
      assert.deepEqual(s.texts.filter((t) => t.type === 'error'), [{ type: 'error', message: "stream 'web' is not H.264: its input is vp8" }]);
      assert.equal(s.frames.length, 0);
    }
  } finally {
    assert.equal(await srv.stop(), 0);
    await cam.stop();
  }
});

test('a camera that turns out not to be H.264: its codec=h264 subscriber is told why and closed; later ones are refused', async () => {
  const cam = await Camera.start(['--size', '320x240', '--codec', 'vp8']);
  const srv = await new Server(['--synthetic', '0', '--source', `${cam.url},id=web`]).start();
  try {
    // Not opened yet (nobody watched it): its codec is not known, so h264 is offered.
    assert.ok((await stream(srv, 'web')).codecs.includes('h264'));
    const s = new Subscriber(`${srv.ws}/ws/streams/web?codec=h264`);
    const closed = await s.closed;
    assert.equal(closed.code, 4400);
    assert.equal(closed.reason, 'stream is not H.264');
    assert.deepEqual(s.texts.filter((t) => t.type === 'error'), [{ type: 'error', message: "stream 'web' is not H.264: its input is vp8" }]);
    assert.equal(s.frames.length, 0);
    const st = await stream(srv, 'web');
    assert.deepEqual(st.codecs, ['jpeg', 'webp', 'vp8']);
    const later = new Subscriber(`${srv.ws}/ws/streams/web?codec=h264`);
    const again = await later.closed;
    assert.equal(again.code, 4400);
    assert.equal(again.reason, "stream 'web' is not H.264 (its codecs: jpeg, webp, vp8)");
  } finally {
    assert.equal(await srv.stop(), 0);
    await cam.stop();
  }
});

test('a stalled h264 subscriber drops to the next key frame and resumes at one: never a delta after a hole', async () => {
  const srv = await new Server(['--synthetic', '0', '--source', `file:${fx('big.mp4')},loop,id=big`]).start();
  try {
    const healthy = h264Sub(`${srv.ws}/ws/streams/big?codec=h264`);
    const stalled = h264Sub(`${srv.ws}/ws/streams/big?codec=h264&queue=5`, { read: false });
    await stalled.opened;
    await until(async () => (await stream(srv, 'big')).h264.drops_to_key > 0,
      { timeoutMs: 60000, everyMs: 250, what: 'the stalled subscriber to drop to a key frame' });
    const resumeAt = healthy.frames.at(-1).id;
    stalled.ws._socket.resume();
    await until(() => stalled.frames.length && stalled.frames.at(-1).id > resumeAt + 30,
      { timeoutMs: 30000, what: 'the stalled subscriber to catch up' });
    assert.deepEqual(stalled.errors, []);
    // The healthy one got every access unit; the stalled one's next is
    // always the next access unit, or an IDR one.
    const frames = stalled.frames.filter((f) => f.id <= healthy.frames.at(-1).id);
    assert.ok(isIdr(frames[0].payload));
    let holes = 0;
    for (let i = 1; i < frames.length; i++) {
      if (frames[i].id === frames[i - 1].id + 1) continue;
      holes++;
      assert.ok(isIdr(frames[i].payload), `access unit ${frames[i].id} after ${frames[i - 1].id}: a delta after a hole`);
    }
    assert.ok(holes >= 1, 'the stalled subscriber lost access units');
    const { code, stderr, md5s } = await decodeH264(frames.map((f) => f.payload));
    assert.equal(code, 0, stderr);
    assert.equal(md5s.length, frames.length);
    assert.equal(await decoded(srv, 'big'), 0);
    // Per subscriber too, as for VP8 (the healthy one lost nothing).
    assert.ok(await srv.metric('fc_subscriber_drops_to_key_total', { stream: 'big', codec: 'h264' }) > 0);
    await Promise.all([healthy.close(), stalled.close()]);
  } finally {
    assert.equal(await srv.stop(), 0);
  }
});

test('an RTSP camera with SPS/PPS only in its SDP: key frames get them prepended and decode; nothing is decoded', async () => {
  const cam = await Camera.start(['--size', '320x240', '--gop', '15', '--params-in-sdp-only']);
  const srv = await new Server(['--synthetic', '0', '--source', `${cam.url},id=door`]).start();
  try {
    const s = h264Sub(`${srv.ws}/ws/streams/door?codec=h264`);
    await until(() => s.frames.length >= 40, { timeoutMs: 20000, what: '40 access units from the camera' });
    assert.deepEqual(s.errors, []);
    const st = await stream(srv, 'door');
    assert.ok(st.h264.params_prepended >= 1, JSON.stringify(st.h264));
    assert.equal(st.h264.params_prepended, st.h264.key_frames, 'every key frame lacked them');
    assert.match(st.h264.codec_string, /^avc1\.[0-9A-F]{6}$/);
    assert.equal(st.input.frames_decoded, 0);
    const first = s.frames[0].payload;
    assert.ok(isIdr(first), `NAL types ${nalTypes(first)}`);
    assert.deepEqual(nalTypes(first).slice(0, 2), [7, 8], 'SPS and PPS first');
    const keys = s.frames.filter((f) => isIdr(f.payload));
    assert.ok(keys.length >= 2);
    for (const k of keys) assert.ok(nalTypes(k.payload).includes(7), `key frame ${k.id} without SPS`);
    const got = s.frames.slice();
    const { code, stderr, md5s } = await decodeH264(got.map((f) => f.payload));
    assert.equal(code, 0, stderr);
    assert.equal(md5s.length, got.length);
    await s.close();
  } finally {
    assert.equal(await srv.stop(), 0);
    await cam.stop();
  }
});

test('a camera that changes size: a format message with the new codec string and coded size before its first key frame', async () => {
  const srv = await new Server(['--synthetic', '0', '--source', `file:${fx('size-change.ts')},loop,id=tv`]).start();
  try {
    const s = h264Sub(`${srv.ws}/ws/streams/tv?codec=h264`);
    await until(() => s.texts.filter((t) => t.type === 'format').length >= 3 && s.frames.length >= 80,
      { timeoutMs: 20000, what: 'both sizes and back' });
    const [pa, pb] = await Promise.all([probeH264(fx('part-a.ts')), probeH264(fx('part-b.ts'))]);
    const formats = s.texts.filter((t) => t.type === 'format');
    assert.deepEqual(formats.slice(0, 3).map((f) => [f.width, f.height]), [[320, 240], [480, 272], [320, 240]]);
    const ll = (f) => parseInt(f.codec_string.slice(9, 11), 16);
    assert.deepEqual([ll(formats[0]), ll(formats[1])], [pa.ll, pb.ll]);
    assert.equal(formats[1].coded_width, 480);
    assert.equal(formats[1].coded_height, 272 + 16 - (272 % 16 || 16), 'whole macroblocks');
    // Each format message comes right before an IDR access unit.
    for (let i = 0; i < s.order.length; i++) {
      if (s.order[i].type !== 'format' || i === 0) continue;
      const next = s.order.slice(i + 1).find((m) => m.frame !== undefined);
      if (!next) continue;
      const f = s.frames.find((x) => x.id === next.frame);
      assert.ok(isIdr(f.payload), `access unit ${f.id} after a format message is not IDR`);
    }
    assert.equal(await decoded(srv, 'tv'), 0);
    await s.close();
  } finally {
    assert.equal(await srv.stop(), 0);
  }
});
