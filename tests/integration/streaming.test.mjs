// The streaming core end to end: a real server, real WebSocket subscribers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import jpeg from 'jpeg-js';
import { Server, Subscriber, sleep, until } from '../lib/server.mjs';

const SMALL = ['--size', '320x240', '--fps', '30'];

test('two clients each get >= 90% of frames, ids increasing, JPEGs of the announced size', async () => {
  const srv = await new Server(['--synthetic', '1', ...SMALL]).start();
  try {
    const a = new Subscriber(`${srv.ws}/ws/streams/cam0`);
    const b = new Subscriber(`${srv.ws}/ws/streams/cam0`);
    a.keepPayload = b.keepPayload = true;
    // About 2.5 s of frames each to judge by.
    await until(() => a.frames.length >= 75 && b.frames.length >= 75, { timeoutMs: 15000, what: '75 frames each' });
    for (const s of [a, b]) {
      const hello = s.hello();
      assert.equal(hello.type, 'hello');
      assert.equal(hello.stream, 'cam0');
      assert.equal(hello.codec, 'jpeg');
      assert.equal(hello.width, 320);
      assert.equal(hello.height, 240);
      assert.equal(hello.fps, 30);
      assert.deepEqual(s.errors, []);
      const first = s.frames[0].id, last = s.frames.at(-1).id;
      const span = last - first + 1;
      assert.ok(s.frames.length >= 0.9 * span, `got ${s.frames.length} of ${span} frames`);
      for (const f of [s.frames[0], s.frames[Math.floor(s.frames.length / 2)], s.frames.at(-1)]) {
        const img = jpeg.decode(f.payload, { useTArray: true });
        assert.equal(img.width, hello.width);
        assert.equal(img.height, hello.height);
      }
      // Capture timestamps are Unix seconds close to now (same host).
      assert.ok(Math.abs(s.frames.at(-1).ts - Date.now() / 1000) < 5);
    }
    await a.close();
    await b.close();
  } finally {
    assert.equal(await srv.stop(), 0);
  }
});

test('a frame is encoded once per tier and shared by every subscriber on it', async () => {
  const srv = await new Server(['--synthetic', '1', ...SMALL]).start();
  try {
    const subs = [0, 1, 2].map(() => new Subscriber(`${srv.ws}/ws/streams/cam0?quality=high`));
    await until(() => subs.every((s) => s.frames.length > 20), { what: 'frames' });
    await Promise.all(subs.map((s) => s.close()));
    const [st] = await srv.json('/api/streams');
    assert.ok(st.frames_produced > 0);
    // Three subscribers, one encode per produced frame (not three).
    assert.ok(st.frames_encoded.high <= st.frames_produced, JSON.stringify(st));
    assert.ok(st.frames_encoded.high >= st.frames_produced - 2, JSON.stringify(st));
    assert.equal(st.frames_encoded.medium, 0);
    assert.equal(st.frames_encoded.low, 0);
  } finally {
    await srv.stop();
  }
});

test('a pinned tier encodes only that tier', async () => {
  const srv = await new Server(['--synthetic', '1', ...SMALL, '--quality', '90,70,30']).start();
  try {
    const low = new Subscriber(`${srv.ws}/ws/streams/cam0?quality=low`);
    await until(() => low.frames.length > 10, { what: 'frames' });
    assert.equal(low.hello().quality, 'low');
    // Before the first frame the client is told the tier (and its JPEG quality).
    assert.deepEqual(low.texts[1], { type: 'tier', tier: 'low', quality: 30 });
    assert.equal(low.texts.length, 2);
    await low.close();
    const [st] = await srv.json('/api/streams');
    assert.equal(st.frames_encoded.high, 0);
    assert.ok(st.frames_encoded.low > 10);
  } finally {
    await srv.stop();
  }
});

test('a client that stops reading does not slow the others, and memory stays bounded', async () => {
  // 720p frames fill the stalled socket's kernel buffers within seconds.
  const srv = await new Server(['--synthetic', '1', '--size', '1280x720', '--fps', '30']).start();
  try {
    const stalled = new Subscriber(`${srv.ws}/ws/streams/cam0`, { read: false });
    await stalled.opened;
    const healthy = new Subscriber(`${srv.ws}/ws/streams/cam0`);
    await until(async () => (await srv.metric('fc_stream_drops_total', { stream: 'cam0' })) > 0,
      { timeoutMs: 30000, everyMs: 250, what: 'the stalled subscriber to overflow its queue' });
    await until(() => healthy.frames.length > 0, { what: 'a first frame for the healthy client' });
    // Measure the healthy client over a window where the stalled one is full.
    // A window of 60 frames the stream produced (2 s at 30 fps), however long
    // a busy machine takes to make them: the healthy client must get nearly all.
    const start = healthy.frames.length, firstId = healthy.frames.at(-1).id;
    await until(() => healthy.frames.at(-1).id - firstId >= 60,
      { timeoutMs: 20000, what: '60 more frames of the stream' });
    const got = healthy.frames.length - start, span = healthy.frames.at(-1).id - firstId;
    assert.ok(got >= 0.9 * span, `healthy client got ${got} of ${span} frames`);
    assert.deepEqual(healthy.errors, []);

    // The stalled subscriber's queue is full and it was moved down to the low tier;
    // the healthy one stays on high.
    const { body } = await srv.text('/metrics');
    const depths = [...body.matchAll(/^fc_subscriber_queue_depth\{stream="cam0",subscriber="\d+",tier="(\w+)"(?:,loop="\d+")?\} (\d+)$/gm)]
      .map((m) => ({ tier: m[1], depth: Number(m[2]) }));
    assert.equal(depths.length, 2, body);
    const full = depths.find((d) => d.depth > 15);
    assert.ok(full, JSON.stringify(depths));
    assert.ok(full.depth <= 50, 'queue is bounded by its capacity');
    assert.equal(full.tier, 'low');
    // The healthy client was told its tier once and it never changed.
    assert.deepEqual(healthy.texts.filter((t) => t.type === 'tier'), [{ type: 'tier', tier: 'high', quality: 85 }]);
    assert.ok(depths.some((d) => d.tier === 'high' && d.depth < 15), JSON.stringify(depths));
    // Frames alive: the stalled queue (50) plus a handful in flight, not a backlog.
    const alive = await srv.metric('fc_frames_alive');
    assert.ok(alive <= 70, `${alive} frames alive`);
    // Drops are summarised, not logged one by one.
    const dropLines = srv.log.split('\n').filter((l) => /dropped/.test(l)).length;
    const drops = await srv.metric('fc_stream_drops_total', { stream: 'cam0' });
    assert.ok(dropLines <= 3, `${dropLines} drop log lines for ${drops} drops`);
    await healthy.close();
    stalled.ws.terminate();
  } finally {
    await srv.stop();
  }
});

test('an unknown stream is refused with a reason', async () => {
  const srv = await new Server(['--synthetic', '1', ...SMALL]).start();
  try {
    const s = new Subscriber(`${srv.ws}/ws/streams/nope`);
    const { code, reason } = await s.closed;
    assert.equal(code, 4404);
    assert.match(reason, /unknown stream 'nope'/);
    assert.deepEqual(s.texts, [{ type: 'error', message: "unknown stream 'nope'" }]);
    const bad = new Subscriber(`${srv.ws}/ws/streams/cam0?quality=ultra`);
    const closed = await bad.closed;
    assert.equal(closed.code, 4400);
    assert.match(closed.reason, /bad quality 'ultra'/);
    // The server goes on serving everyone else.
    const ok = new Subscriber(`${srv.ws}/ws/streams/cam0`);
    await until(() => ok.frames.length > 3, { what: 'frames after refusals' });
    await ok.close();
  } finally {
    await srv.stop();
  }
});

test('streams nobody watches produce and encode nothing; the source pauses when the last one leaves', async () => {
  const srv = await new Server(['--synthetic', '2', ...SMALL]).start();
  try {
    await sleep(500);
    let streams = await srv.json('/api/streams');
    for (const st of streams) {
      assert.equal(st.running, false);
      assert.equal(st.frames_produced, 0);
    }
    const s = new Subscriber(`${srv.ws}/ws/streams/cam0`);
    await until(() => s.frames.length > 10, { what: 'frames' });
    streams = await srv.json('/api/streams');
    assert.equal(streams[0].running, true);
    assert.equal(streams[0].subscribers, 1);
    assert.equal(streams[1].running, false);
    assert.equal(await srv.metric('fc_stream_frames_encoded_total', { stream: 'cam1' }), 0);
    assert.equal(await srv.metric('fc_stream_frames_produced_total', { stream: 'cam1' }), 0);
    await s.close();
    await until(async () => !(await srv.json('/api/streams'))[0].running, { what: 'cam0 to pause' });
    const produced = await srv.metric('fc_stream_frames_produced_total', { stream: 'cam0' });
    await sleep(300);
    const later = await srv.metric('fc_stream_frames_produced_total', { stream: 'cam0' });
    assert.ok(later - produced <= 1, `source kept producing: ${produced} -> ${later}`);
  } finally {
    await srv.stop();
  }
});

test('the encode cap: --encode-fps runs the stream at that rate', async () => {
  const srv = await new Server(['--synthetic', '1', '--size', '320x240', '--fps', '30', '--encode-fps', '10']).start();
  try {
    const s = new Subscriber(`${srv.ws}/ws/streams/cam0`);
    await until(() => s.frames.length > 2, { what: 'frames' });
    assert.equal(s.hello().fps, 10);
    // The cap is an upper bound, whatever the machine's load: over a window,
    // never more than 10 frames a second (plus the one at each end).
    const n0 = s.frames.length, t0 = performance.now();
    await until(() => s.frames.length - n0 >= 20, { timeoutMs: 20000, what: '20 more frames' });
    const secs = (performance.now() - t0) / 1000, got = s.frames.length - n0;
    assert.ok(got <= 10 * secs + 2, `${got} frames in ${secs.toFixed(2)} s with --encode-fps 10`);
    const [st] = await srv.json('/api/streams');
    assert.ok(st.measured_fps < 15, `measured ${st.measured_fps} fps`);
    await s.close();
  } finally {
    await srv.stop();
  }
});

test('SIGTERM closes every WebSocket with 1001 and exits 0', async () => {
  const srv = await new Server(['--synthetic', '1', ...SMALL]).start();
  const s = new Subscriber(`${srv.ws}/ws/streams/cam0`);
  await until(() => s.frames.length > 2, { what: 'frames' });
  const code = await srv.stop('SIGTERM');
  assert.equal(code, 0);
  const closed = await s.closed;
  assert.equal(closed.code, 1001);
  assert.match(srv.log, /SIGTERM: closing connections/);
});

test('SIGINT exits 0 too', async () => {
  const srv = await new Server(['--synthetic', '1', ...SMALL]).start();
  assert.equal(await srv.stop('SIGINT'), 0);
});

test('a peer that stops answering pings is disconnected and its subscription dropped', async () => {
  const { connect } = await import('node:net');
  const srv = await new Server(['--synthetic', '1', '--size', '320x240', '--ping-interval', '1']).start();
  try {
    // A raw client: completes the WebSocket handshake, then never reads or
    // answers anything, like a peer whose network vanished.
    const sock = connect(srv.port, '127.0.0.1');
    await new Promise((r) => sock.on('connect', r));
    sock.write('GET /ws/streams/cam0 HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n' +
      'Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
    sock.once('data', () => sock.pause());
    await until(async () => (await srv.json('/api/streams'))[0].subscribers === 1, { what: 'the subscription' });
    // Pinged after 1 s, hung up when nothing came back within 2 s more.
    await until(async () => (await srv.json('/api/streams'))[0].subscribers === 0,
      { timeoutMs: 10000, everyMs: 200, what: 'the server to hang up on the silent peer' });
    sock.destroy();
  } finally {
    await srv.stop();
  }
});
