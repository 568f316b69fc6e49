// HTTP endpoints and the command line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { BIN, FIXTURES, Server, Subscriber, until } from '../lib/server.mjs';

// Servers started here keep no stream store (no framecast.db in the build tree).
const NO_DB = { ...process.env, FRAMECAST_DB: ':memory:' };

test('/healthz, /api/streams and /metrics', async () => {
  const srv = await new Server(['--synthetic', '1', '--size', '320x240',
    '--source', `synthetic:image=${FIXTURES}face-astronaut.png,id=face,size=640x360,fps=15`]).start();
  try {
    const h = await srv.text('/healthz');
    assert.equal(h.status, 200);
    assert.equal(h.body, 'ok\n');

    const s = new Subscriber(`${srv.ws}/ws/streams/face`);
    await until(() => s.frames.length > 3, { what: 'frames' });
    const streams = await srv.json('/api/streams');
    assert.deepEqual(streams.map((x) => x.id), ['cam0', 'face']);
    const face = streams[1];
    assert.equal(face.source, `synthetic:image=${FIXTURES}face-astronaut.png`);
    assert.equal(face.width, 640);
    assert.equal(face.height, 360);
    assert.equal(face.fps, 15);
    assert.equal(face.encode_fps, 15);
    assert.equal(face.subscribers, 1);
    assert.ok(face.frames_produced > 0);
    assert.ok(face.frames_encoded.high > 0);
    for (const k of ['measured_fps', 'drops', 'running', 'frames_not_encoded'])
      assert.ok(k in face, `missing ${k}`);

    const m = await srv.text('/metrics');
    assert.equal(m.status, 200);
    assert.match(m.type, /^text\/plain/);
    for (const family of ['fc_process_cpu_seconds_total', 'fc_cpu_seconds_total', 'fc_encode_milliseconds',
      'fc_loop_lag_milliseconds', 'fc_worker_busy_seconds_total', 'fc_subscriber_queue_depth',
      'fc_subscriber_drops_total', 'fc_stream_frames_encoded_total', 'fc_stream_source_fps']) {
      assert.match(m.body, new RegExp(`^# TYPE ${family} `, 'm'), family);
    }
    for (const role of ['loop', 'source', 'encode'])
      assert.match(m.body, new RegExp(`^fc_cpu_seconds_total\\{role="${role}"\\} `, 'm'));
    assert.ok(await srv.metric('fc_cpu_seconds_total', { role: 'encode' }) > 0);
    assert.ok(await srv.metric('fc_encode_milliseconds_count', { stream: 'face' }) > 0);

    const missing = await srv.text('/nope');
    assert.equal(missing.status, 404);
    await s.close();
  } finally {
    await srv.stop();
  }
});

test('bad flags exit 2 and name the flag; --help and --version exit 0', () => {
  const run = (...args) => spawnSync(BIN, args, { encoding: 'utf8', timeout: 10000, env: NO_DB });
  let r = run('serve', '--port', 'x');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--port 'x'/);
  r = run('serve', '--bogus');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown option '--bogus'/);
  r = run('serve', '--size', '1281x720');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--size '1281x720'/);
  r = run('serve', '--source', 'synthetic:image=x.png,zoom=2');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown option 'zoom=...'/);
  r = run('serve', '--detect-input', 'round');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--detect-input 'round': band or square/);
  r = run('frobnicate');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown command 'frobnicate'/);
  r = run('--help');
  assert.equal(r.status, 0);
  assert.match(r.stdout, /serve/);
  r = run('serve', '--help');
  assert.equal(r.status, 0);
  assert.match(r.stdout, /--encode-fps/);
  r = run('--version');
  assert.equal(r.status, 0);
  assert.match(r.stdout, /^framecast \d+\.\d+\.\d+/);
});

test('an unreadable image source fails at start-up with the reason', () => {
  const r = spawnSync(BIN, ['serve', '--port', '0', '--source', 'synthetic:image=/nonexistent/x.png'],
    { encoding: 'utf8', timeout: 10000, env: NO_DB });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /\/nonexistent\/x\.png: No such file or directory/);
});

test('a port in use is reported', async () => {
  const srv = await new Server(['--synthetic', '1']).start();
  try {
    const r = spawnSync(BIN, ['serve', '--port', String(srv.port), '--synthetic', '1'],
      { encoding: 'utf8', timeout: 10000, env: NO_DB });
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`cannot listen on 127.0.0.1:${srv.port}`));
  } finally {
    await srv.stop();
  }
});

test('malformed control messages get an error and the connection stays usable', async () => {
  const srv = await new Server(['--synthetic', '1', '--size', '320x240']).start();
  try {
    const s = new Subscriber(`${srv.ws}/ws/streams/cam0`);
    await s.opened;
    s.ws.send('{not json');
    s.ws.send(JSON.stringify({ type: 'dance' }));
    s.ws.send(JSON.stringify({ type: 'ping' }));
    await until(() => s.texts.filter((t) => t.type !== 'tier').length >= 4, { what: 'replies' });
    assert.deepEqual(s.texts.filter((t) => t.type !== 'tier').slice(1), [
      { type: 'error', message: 'malformed JSON' },
      { type: 'error', message: "unknown message type 'dance'" },
      { type: 'pong' },
    ]);
    const n = s.frames.length;
    await until(() => s.frames.length > n + 3, { what: 'frames after errors' });
    await s.close();
  } finally {
    await srv.stop();
  }
});

test('clients past --max-clients are refused with 1013 and the others keep streaming', async () => {
  const srv = await new Server(['--synthetic', '1', '--size', '320x240', '--max-clients', '2']).start();
  try {
    const a = new Subscriber(`${srv.ws}/ws/streams/cam0`);
    const b = new Subscriber(`${srv.ws}/ws/streams/cam0`);
    await until(() => a.frames.length > 0 && b.frames.length > 0, { what: 'frames' });
    const c = new Subscriber(`${srv.ws}/ws/streams/cam0`);
    const closed = await c.closed;
    assert.equal(closed.code, 1013);
    assert.match(closed.reason, /server full/);
    const n = a.frames.length;
    await until(() => a.frames.length > n + 5, { what: 'frames after a refusal' });
    await a.close();
    // A place is free again.
    const d = new Subscriber(`${srv.ws}/ws/streams/cam0`);
    await until(() => d.frames.length > 0, { what: 'frames for a new client' });
    await Promise.all([b.close(), d.close()]);
  } finally {
    await srv.stop();
  }
});

test('/api/streams/{id} answers one stream; unknown ids, paths and methods are named', async () => {
  const srv = await new Server(['--synthetic', '2', '--size', '320x240']).start();
  try {
    const one = await srv.json('/api/streams/cam1');
    assert.equal(one.id, 'cam1');
    assert.equal(one.codec, 'jpeg');
    assert.equal(one.width, 320);
    // The same object as the list's entry (counters aside, they move).
    const listed = (await srv.json('/api/streams')).find((x) => x.id === 'cam1');
    const fixed = ({ id, source, codec, width, height, fps, encode_fps, detection }) =>
      ({ id, source, codec, width, height, fps, encode_fps, detection });
    assert.deepEqual(fixed(one), fixed(listed));
    let r = await srv.text('/api/streams/nope');
    assert.equal(r.status, 404);
    assert.deepEqual(JSON.parse(r.body), { error: "no stream 'nope'" });
    r = await srv.text('/api/streams/cam0/extra');
    assert.equal(r.status, 404);
    r = await srv.text('/api/nothing');
    assert.equal(r.status, 404);
    assert.equal(r.body, 'not found: /api/nothing\n');
    const put = await fetch(srv.http + '/api/streams/cam0', { method: 'PUT', body: '{}' });
    assert.equal(put.status, 405);
    assert.equal(put.headers.get('allow'), 'GET, PATCH, DELETE');
    const post = await fetch(srv.http + '/healthz', { method: 'POST', body: '{}' });
    assert.equal(post.status, 405);
    // The server goes on answering.
    assert.equal((await srv.text('/healthz')).body, 'ok\n');
  } finally {
    assert.equal(await srv.stop(), 0);
  }
});
