// VP8 end to end: ?codec=vp8 negotiation, frames that an independent decoder
// (ffmpeg, libavcodec's VP8) decodes, every subscriber starting at a key
// frame, a stalled subscriber resuming at one, joins coalesced into one
// forced key frame, one output per codec made and closed on demand, and
// avatar sessions in VP8 at 15 fps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { Server, Subscriber, FIXTURES, until } from '../lib/server.mjs';
import { decodeVp8, isKey } from '../lib/vp8.mjs';

const SMALL = ['--synthetic', '1', '--size', '320x180', '--fps', '30'];

// A subscriber that keeps the payloads it receives, and what came between
// them (tier messages), in order.
function vp8Sub(url, opts) {
  const s = new Subscriber(url, opts);
  s.keepPayload = true;
  s.order = [];
  s.ws.on('message', (data, isBinary) => {
    s.order.push(isBinary ? { frame: data.readUInt32BE(0), key: isKey(data.subarray(16)) }
      : JSON.parse(data.toString()));
  });
  return s;
}

test('codec=vp8: hello names the codec, frames decode with libavcodec and change, the first is a key frame', async () => {
  const srv = await new Server(SMALL).start();
  try {
    const a = vp8Sub(`${srv.ws}/ws/streams/cam0?codec=vp8&quality=high`);
    const low = vp8Sub(`${srv.ws}/ws/streams/cam0?codec=vp8&quality=low`);
    const jpeg = new Subscriber(`${srv.ws}/ws/streams/cam0`);
    await until(() => a.frames.length >= 60 && low.frames.length >= 60 && jpeg.frames.length > 10,
      { timeoutMs: 15000, what: '60 VP8 frames each' });
    assert.deepEqual(a.hello(), {
      type: 'hello', stream: 'cam0', codec: 'vp8', source_codec: 'raw', width: 320, height: 180, fps: 30, quality: 'high',
      queue: 50, view: 'full', detection: false, codec_string: 'vp8', coded_width: 320, coded_height: 180,
    });
    // The low tier is half the size, and says so.
    assert.equal(low.hello().coded_width, 160);
    assert.deepEqual(low.texts[1], { type: 'tier', tier: 'low', width: 160, height: 90 });
    assert.deepEqual(a.texts[1], { type: 'tier', tier: 'high', width: 320, height: 180 });
    // Existing clients see no change.
    assert.equal(jpeg.hello().codec, 'jpeg');
    assert.equal(jpeg.hello().codec_string, undefined);
    assert.equal(jpeg.frames.length > 0 && jpeg.texts[1].quality, 85);
    for (const [s, w, h] of [[a, 320, 180], [low, 160, 90]]) {
      assert.deepEqual(s.errors, []);
      assert.ok(isKey(s.frames[0].payload), 'the first frame is a key frame');
      const frames = s.frames.slice(0, 60);
      const { code, stderr, md5s } = await decodeVp8(frames.map((f) => f.payload), w, h);
      assert.equal(code, 0, stderr);
      assert.equal(stderr, '');
      assert.equal(md5s.length, frames.length, 'every frame decoded to a picture');
      assert.ok(new Set(md5s).size > frames.length / 2, `pictures change: ${new Set(md5s).size} distinct`);
    }
    // VP8 at this size is far smaller than the JPEG of the same picture.
    const mean = (s) => s.frames.reduce((n, f) => n + f.len, 0) / s.frames.length;
    assert.ok(mean(a) < mean(jpeg), `vp8 ${mean(a)} bytes vs jpeg ${mean(jpeg)}`);
    await Promise.all([a.close(), low.close(), jpeg.close()]);
  } finally {
    assert.equal(await srv.stop(), 0);
  }
});

test('one output per codec: made by its first subscriber, shared, closed with its last; h264 and unknown codecs are refused', async () => {
  const srv = await new Server(SMALL).start();
  try {
    const outputs = (codec) => srv.metric('fc_stream_outputs', { stream: 'cam0', view: 'full', codec });
    assert.equal(await outputs('vp8'), 0);
    assert.equal(await outputs('jpeg'), 0);
    const subs = [0, 1, 2].map(() => vp8Sub(`${srv.ws}/ws/streams/cam0?codec=vp8&quality=high`));
    await until(() => subs.every((s) => s.frames.length > 30), { timeoutMs: 15000, what: 'frames' });
    assert.equal(await outputs('vp8'), 1);
    assert.equal(await outputs('jpeg'), 0, 'nobody asked for JPEG: no JPEG output');
    await Promise.all(subs.map((s) => s.close()));
    await until(async () => (await outputs('vp8')) === 0, { what: 'the VP8 output to close' });
    // Three subscribers, one VP8 encode per produced frame.
    const [st] = await srv.json('/api/streams');
    const vp8 = await srv.metric('fc_stream_frames_encoded_total', { stream: 'cam0', codec: 'vp8', tier: 'high' });
    assert.ok(vp8 <= st.frames_produced && vp8 >= st.frames_produced - 2, `${vp8} encodes, ${st.frames_produced} produced`);
    assert.equal(await srv.metric('fc_stream_frames_encoded_total', { stream: 'cam0', codec: 'jpeg' }), 0);
    // Counters of a closed output keep counting.
    assert.ok(await srv.metric('fc_keyframes_total', { stream: 'cam0', codec: 'vp8' }) >= 1);

    const h264 = new Subscriber(`${srv.ws}/ws/streams/cam0?codec=h264`);
    const closed = await h264.closed;
    assert.equal(closed.code, 4400);
    assert.match(closed.reason, /stream 'cam0' is not H.264/);
    const bad = new Subscriber(`${srv.ws}/ws/streams/cam0?codec=av1`);
    const badClosed = await bad.closed;
    assert.equal(badClosed.code, 4400);
    assert.equal(badClosed.reason, "bad codec 'av1': use jpeg, webp, vp8 or h264");
  } finally {
    await srv.stop();
  }
});

test('many joins within a second are served by one forced key frame', async () => {
  // No periodic key frame during the test: every key frame after the first
  // is one that joins forced.
  const srv = await new Server([...SMALL, '--keyint', '60']).start();
  try {
    const forced = () => srv.metric('fc_keyframes_forced_total', { stream: 'cam0', codec: 'vp8' });
    const first = vp8Sub(`${srv.ws}/ws/streams/cam0?codec=vp8&quality=high`);
    await until(() => first.frames.length > 0, { what: 'the first subscriber\'s first frame' });
    assert.equal(await forced(), 0, 'the encoder\'s first frame is a key frame without forcing');
    const joiners = Array.from({ length: 20 }, () => vp8Sub(`${srv.ws}/ws/streams/cam0?codec=vp8&quality=high`));
    await until(() => joiners.every((s) => s.frames.length > 0), { timeoutMs: 10000, what: 'a frame for every joiner' });
    const starts = new Set(joiners.map((s) => s.frames[0].id));
    for (const s of joiners) assert.ok(isKey(s.frames[0].payload), `joiner starts at frame ${s.frames[0].id}, a delta`);
    // Each forced key frame served joiners (their first frames), and 20
    // joins inside about a second made at most two (one per second).
    const n = await forced();
    assert.equal(n, starts.size, `${n} forced key frames, joiners started at ${[...starts]}`);
    assert.ok(n >= 1 && n <= 2, `${n} forced key frames for 20 joins`);
    // The first subscriber got the same frames: its own first key frame and
    // the joiners' forced ones, deltas in between.
    const last = Math.max(...starts);
    await until(() => first.frames.at(-1).id >= last, { what: 'the first subscriber to get the last forced key frame' });
    const keys = first.frames.filter((f) => isKey(f.payload)).map((f) => f.id);
    assert.deepEqual(keys, [first.frames[0].id, ...[...starts].sort((x, y) => x - y)]);
    await Promise.all([first, ...joiners].map((s) => s.close()));
  } finally {
    await srv.stop();
  }
});

test('a subscriber stalled past its queue resumes at a key frame; an auto one changes tier at key frames', async () => {
  // 720p VP8 fills a stalled socket's kernel buffers within seconds.
  const srv = await new Server(['--synthetic', '1', '--size', '1280x720', '--fps', '30', '--keyint', '60']).start();
  try {
    // One after the other, each subscribed (its hello in) before the next
    // comes: their metrics serials are in this order, on any loop.
    const subscribed = (s) => until(() => s.hello(), { what: 'the hello' }).then(() => s);
    const healthy = await subscribed(vp8Sub(`${srv.ws}/ws/streams/cam0?codec=vp8&quality=high`));
    // The stalled ones stop reading once their hello is in.
    const stalled = await subscribed(vp8Sub(`${srv.ws}/ws/streams/cam0?codec=vp8&quality=high&queue=10`));
    stalled.ws._socket.pause();
    const auto = await subscribed(vp8Sub(`${srv.ws}/ws/streams/cam0?codec=vp8&queue=40`));
    auto.ws._socket.pause();
    const gaps = (tier) => srv.metric('fc_subscriber_drops_to_key_total', { stream: 'cam0', tier });
    await until(async () => (await gaps('high')) > 0, { timeoutMs: 60000, everyMs: 250, what: 'the stalled subscriber to drop to a key frame' });
    // No sample with tier low until a subscriber is on it.
    const onLow = () => srv.metric('fc_subscriber_queue_depth', { stream: 'cam0', tier: 'low' }).catch(() => 0);
    await until(async () => (await onLow()) > 0,
      { timeoutMs: 60000, everyMs: 250, what: 'the stalled auto subscriber on the low tier' });
    const resumeAt = healthy.frames.at(-1).id;
    stalled.ws._socket.resume();
    auto.ws._socket.resume();
    await until(() => stalled.frames.length && stalled.frames.at(-1).id > resumeAt + 30 && auto.frames.at(-1)?.id > resumeAt + 30,
      { timeoutMs: 30000, what: 'the stalled subscribers to catch up' });

    // The healthy subscriber got every frame the high encoder made, so its
    // ids are the encoder's sequence. The stalled one's next frame is always
    // the encoder's next frame, or a key frame: never a delta after a hole.
    const { body } = await srv.text('/metrics');
    const drops = [...body.matchAll(/^fc_subscriber_drops_total\{stream="cam0",codec="vp8",subscriber="(\d+)",tier="\w+"(?:,loop="\d+")?\} (\d+)$/gm)]
      .map((m) => ({ serial: Number(m[1]), drops: Number(m[2]) })).sort((x, y) => x.serial - y.serial);
    assert.equal(drops.length, 3, body);
    assert.equal(drops[0].drops, 0, 'the healthy subscriber (the first) lost nothing');
    assert.ok(drops[1].drops > 0, 'the stalled one overflowed its queue');
    const next = new Map(healthy.frames.map((f, i) => [f.id, healthy.frames[i + 1]?.id]));
    const frames = stalled.frames.filter((f) => f.id <= healthy.frames.at(-1).id);
    assert.ok(isKey(frames[0].payload));
    let holes = 0;
    for (let i = 1; i < frames.length; i++) {
      if (next.get(frames[i - 1].id) === frames[i].id) continue;
      holes++;
      assert.ok(isKey(frames[i].payload), `frame ${frames[i].id} after ${frames[i - 1].id}: a delta after a hole`);
    }
    assert.ok(holes >= 1, 'the stalled subscriber lost frames');
    const { code, stderr, md5s } = await decodeVp8(frames.map((f) => f.payload), 1280, 720);
    assert.equal(code, 0, stderr);
    assert.equal(md5s.length, frames.length);

    // The auto subscriber moved down, each time at a key frame of the new tier.
    const tiers = auto.order.filter((m) => m.type === 'tier').map((m) => m.tier);
    assert.ok(tiers.includes('low'), `tiers ${tiers}`);
    auto.order.forEach((m, i) => {
      if (m.type !== 'tier') return;
      const f = auto.order.slice(i + 1).find((x) => x.frame !== undefined);
      assert.ok(!f || f.key, `the first ${m.tier} frame (${f?.frame}) is a delta`);
    });
    assert.ok(isKey(auto.frames[0].payload));
    await Promise.all([healthy.close(), stalled.close(), auto.close()]);
  } finally {
    await srv.stop();
  }
});

// ---- avatar sessions ----

function wavSeconds(path) {
  const b = readFileSync(path);
  let off = 12, rate = 0, ch = 0, bits = 0;
  while (off + 8 <= b.length) {
    const id = b.toString('ascii', off, off + 4), size = b.readUInt32LE(off + 4);
    if (id === 'fmt ') { ch = b.readUInt16LE(off + 10); rate = b.readUInt32LE(off + 12); bits = b.readUInt16LE(off + 22); }
    if (id === 'data') return size / (rate * ch * (bits / 8));
    off += 8 + size + (size & 1);
  }
  throw new Error(`${path}: no data chunk`);
}

async function avatarSession(srv, client, runKwargs) {
  const ws = new WebSocket(`${srv.ws}/ws/${client}`, { perMessageDeflate: false });
  const texts = [], frames = [];
  ws.on('message', (data, isBinary) => {
    if (isBinary) frames.push({ id: data.readUInt32BE(0), ts: data.readDoubleBE(4), payload: data.subarray(16) });
    else texts.push(JSON.parse(data.toString()));
  });
  await new Promise((resolve, reject) => { ws.on('open', resolve); ws.on('error', reject); });
  ws.send(JSON.stringify({ type: 'start_streaming', audio_path: 'speech-24k.wav', source_path: 'face.png',
    binary: true, run_kwargs: runKwargs }));
  await until(() => texts.some((t) => t.type === 'streaming_completed' || t.type === 'error'),
    { timeoutMs: 30000, what: 'the session to complete' });
  ws.close();
  return { texts, frames, meta: texts.find((t) => t.type === 'metadata') };
}

test('avatar sessions in VP8 run at 15 fps on the audio clock, start at a key frame and decode', async () => {
  const media = mkdtempSync(join(tmpdir(), 'fc-media-'));
  copyFileSync(join(FIXTURES, 'speech-24k.wav'), join(media, 'speech-24k.wav'));
  copyFileSync(join(FIXTURES, 'face-astronaut.png'), join(media, 'face.png'));
  const srv = await new Server(['--synthetic', '0', '--media-dir', media]).start();
  try {
    const seconds = wavSeconds(join(FIXTURES, 'speech-24k.wav'));
    for (const realtime of [false, true]) {
      const { texts, frames, meta } = await avatarSession(srv, `vp8-${realtime}`, { format: 'vp8', realtime });
      assert.deepEqual(texts.filter((t) => t.type === 'error'), []);
      assert.equal(meta.format, 'vp8');
      assert.equal(meta.fps, 15);
      assert.equal(meta.expected_frames, Math.ceil(seconds * 15 - 1e-9));
      if (!realtime) assert.deepEqual(frames.map((f) => f.id), [...Array(meta.expected_frames).keys()]);
      // Each frame is the 25 fps grid's frame at or before i/15 s: its
      // timestamp is that frame's media time.
      for (const f of frames) assert.ok(Math.abs(f.ts - Math.floor(f.id * 25 / 15) / 25) < 1e-9, `frame ${f.id} at ${f.ts}`);
      assert.ok(isKey(frames[0].payload), 'the first frame is a key frame');
      const { code, stderr, md5s } = await decodeVp8(frames.map((f) => f.payload), meta.width, meta.height);
      assert.equal(code, 0, stderr);
      assert.equal(md5s.length, frames.length);
      assert.ok(new Set(md5s).size > frames.length / 2, 'the puppet moves');
    }
    // run_kwargs.fps overrides the default; JPEG stays at 25.
    let s = await avatarSession(srv, 'vp8-10', { format: 'vp8', realtime: false, fps: 10 });
    assert.equal(s.meta.fps, 10);
    assert.equal(s.frames.length, Math.ceil(seconds * 10 - 1e-9));
    s = await avatarSession(srv, 'jpeg', { realtime: false });
    assert.equal(s.meta.fps, 25);
    s = await avatarSession(srv, 'fps-bad', { format: 'vp8', fps: 30 });
    assert.deepEqual(s.texts.filter((t) => t.type === 'error').map((t) => t.message),
      ['run_kwargs.fps must be a whole number from 1 to 25']);
  } finally {
    await srv.stop();
    rmSync(media, { recursive: true, force: true });
  }
});
