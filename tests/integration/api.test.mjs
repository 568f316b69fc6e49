// The stream API end to end: a real server, real WebSocket viewers, streams
// added, changed and removed while it serves (docs/api.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FIXTURES, Server, Subscriber, until } from '../lib/server.mjs';
import { call } from '../lib/api.mjs';

const FACE = `${FIXTURES}face-astronaut.png`;

test('create, read, change and delete streams through the API', async () => {
  const srv = await new Server(['--synthetic', '1', '--size', '320x240']).start();
  try {
    // Two forms of the same thing: a spec, or its parts as fields.
    let r = await call(srv, 'POST', '/api/streams', {
      body: { id: 'lobby', spec: 'synthetic:procedural,size=320x240,fps=20', quality: { high: 80 } },
    });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.headers.get('location'), '/api/streams/lobby');
    assert.equal(r.json.id, 'lobby');
    assert.equal(r.json.origin, 'api');
    assert.equal(r.json.spec, 'synthetic:procedural,size=320x240,fps=20');
    assert.deepEqual(r.json.settings, { encode_fps: null, detect: null, detect_fps: null,
      quality: { high: 80, medium: null, low: null } });
    assert.deepEqual(r.json.quality, { high: 80, medium: 75, low: 60 });
    assert.equal(r.json.fps, 20);
    r = await call(srv, 'POST', '/api/streams', {
      body: { id: 'face', type: 'synthetic', image: FACE, size: '320x180', fps: 10, motion: false },
    });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json.spec, `synthetic:image=${FACE},size=320x180,fps=10,motion=0`);
    assert.equal(r.json.width, 320);
    assert.equal(r.json.height, 180);

    const list = await srv.json('/api/streams');
    assert.deepEqual(list.map((s) => [s.id, s.origin]), [['cam0', 'cli'], ['lobby', 'api'], ['face', 'api']]);
    assert.equal(list[0].spec, undefined); // command-line streams are not stored
    assert.equal((await srv.json('/api/streams/face')).origin, 'api');

    // Both are live streams like any other.
    const lobby = new Subscriber(`${srv.ws}/ws/streams/lobby?quality=high`);
    const face = new Subscriber(`${srv.ws}/ws/streams/face`);
    await until(() => lobby.frames.length >= 5 && face.frames.length >= 2, { what: 'frames of the new streams' });
    assert.equal(lobby.hello().stream, 'lobby');
    assert.equal(face.hello().width, 320);

    // Quality and the encode cap change live: the viewer stays connected and
    // the frames after the answer follow the new values.
    const before = lobby.frames.slice(-4);
    r = await call(srv, 'PATCH', '/api/streams/lobby', { body: { encode_fps: 4, quality: { high: 10 } } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.applied, 'live');
    assert.equal(r.json.encode_fps, 4);
    assert.equal(r.json.quality.high, 10);
    assert.deepEqual(r.json.settings.quality, { high: 10, medium: null, low: null });
    assert.ok(r.json.updated >= r.json.created);
    const mark = lobby.frames.length;
    await until(() => lobby.frames.length >= mark + 9, { timeoutMs: 15000, what: 'frames after the change' });
    const after = lobby.frames.slice(mark + 2, mark + 9);
    const mean = (fs) => fs.reduce((a, f) => a + f.len, 0) / fs.length;
    assert.ok(mean(after) < 0.75 * mean(before), `quality 10 frames (${mean(after)} B) are not smaller than quality 80 ones (${mean(before)} B)`);
    // The capture times are the server's own pacing, on absolute deadlines:
    // a late tick shortens one interval, but the median is the period, 0.25 s
    // at encode_fps 4 (0.05 s before the change). Load can only lengthen it.
    const gaps = after.slice(1).map((f, i) => f.ts - after[i].ts).sort((a, b) => a - b);
    const median = gaps[Math.floor(gaps.length / 2)];
    assert.ok(median > 0.15, `frames after the change are a median ${median} s apart at encode_fps 4: ${gaps.join(', ')}`);
    assert.equal(lobby.errors.length, 0, lobby.errors.join('\n'));

    // Turning detection on needs new parts: the stream restarts and its
    // viewers are told to reconnect (1012), then see it with detection.
    r = await call(srv, 'PATCH', '/api/streams/face', { body: { detect: true, detect_fps: 2 } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.applied, 'restarted');
    assert.equal(r.json.detection.fps, 2);
    const restarted = await face.closed;
    assert.equal(restarted.code, 1012);
    assert.match(restarted.reason, /restarted/);
    const again = new Subscriber(`${srv.ws}/ws/streams/face?view=ptz`);
    await until(() => again.frames.length >= 1, { what: 'a frame of the restarted stream' });
    assert.equal(again.hello().detection, true);
    await again.close();

    // Deleting closes its viewers with 4410 and a reason; the id is free again.
    r = await call(srv, 'DELETE', '/api/streams/lobby');
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { id: 'lobby', deleted: true });
    const gone = await lobby.closed;
    assert.equal(gone.code, 4410);
    assert.equal(gone.reason, 'stream deleted');
    assert.equal((await call(srv, 'GET', '/api/streams/lobby')).status, 404);
    const late = new Subscriber(`${srv.ws}/ws/streams/lobby`);
    assert.equal((await late.closed).code, 4404);
    r = await call(srv, 'POST', '/api/streams', { body: { id: 'lobby', spec: 'synthetic:procedural' } });
    assert.equal(r.status, 201, r.text);
    assert.ok(await srv.metric('fc_api_stream_changes_total', { change: 'delete', result: 'ok' }) === 1);
    assert.ok(await srv.metric('fc_store_commit_milliseconds_count') >= 5);
  } finally {
    assert.equal(await srv.stop(), 0);
  }
});

test('refusals: 400 names the field, 404 unknown, 409 taken or from the command line, 411, 413', async () => {
  // No face model: detection is refused by name, not by a failure later.
  const srv = await new Server(['--synthetic', '1', '--size', '320x240', '--model', '/nonexistent/face.onnx']).start();
  try {
    const post = (body) => call(srv, 'POST', '/api/streams', { body });
    const expect = async (p, status, pattern) => {
      const r = await p;
      assert.equal(r.status, status, r.text);
      assert.match(r.json.error, pattern);
    };
    await expect(post({ id: 'a', spec: 'synthetic:procedural', zoom: 2 }), 400, /^unknown field 'zoom'/);
    await expect(post({ id: 'a', spec: 'synthetic:procedural', encode_fps: 500 }), 400, /^encode_fps: /);
    await expect(post({ id: 'a', spec: 'synthetic:procedural,fps=10', encode_fps: 20 }), 400,
      /^encode_fps 20 is above the stream's fps 10/);
    await expect(post({ id: 'a', spec: 'synthetic:procedural', quality: { high: 0 } }), 400, /^quality\.high: /);
    await expect(post({ id: 'a', type: 'synthetic', procedural: true, size: '33x33' }), 400, /^spec: .*size '33x33'/);
    await expect(post({ id: 'a/b', spec: 'synthetic:procedural' }), 400, /^id: /);
    await expect(post({ spec: 'synthetic:procedural' }), 400, /^id: required/);
    await expect(post({ id: 'a', spec: 'synthetic:image=/nonexistent/x.png' }), 400,
      /^spec: .*\/nonexistent\/x\.png: No such file or directory/);
    await expect(call(srv, 'POST', '/api/streams', { raw: '{"id": "a",' }), 400, /^the body is not JSON/);
    await expect(call(srv, 'POST', '/api/streams', { raw: '{"quality":{"high":[[[1]]]}}' }), 400, /nests deeper than 4/);
    await expect(call(srv, 'POST', '/api/streams', { raw: '' }), 400, /^the body is not JSON/);
    await expect(call(srv, 'POST', '/api/streams', { raw: `{"id":"a","spec":"${'x'.repeat(17000)}"}` }), 413,
      /larger than 16384 bytes/);
    await expect(post({ id: 'cam0', spec: 'synthetic:procedural' }), 409, /^id: a stream 'cam0' exists already/);
    await expect(call(srv, 'PATCH', '/api/streams/cam0', { body: { encode_fps: 5 } }), 409, /comes from the command line/);
    await expect(call(srv, 'DELETE', '/api/streams/cam0'), 409, /comes from the command line/);
    await expect(call(srv, 'PATCH', '/api/streams/nope', { body: { encode_fps: 5 } }), 404, /no stream 'nope'/);
    await expect(call(srv, 'DELETE', '/api/streams/nope'), 404, /no stream 'nope'/);
    await expect(post({ id: 'd', spec: 'synthetic:procedural', detect: true }), 400,
      /^detect: face detection needs a model, and this server has none \(.*\/nonexistent\/face\.onnx/);
    const r = await post({ id: 'a', spec: 'synthetic:procedural' });
    assert.equal(r.status, 201);
    await expect(call(srv, 'PATCH', '/api/streams/a', { body: { spec: 'synthetic:procedural' } }), 400, /^spec: cannot be changed/);
    await expect(call(srv, 'PATCH', '/api/streams/a', { body: {} }), 400, /^nothing to change/);
    // A body needs its length said up front (a chunked body is refused before it is read).
    const chunked = await fetch(`${srv.http}/api/streams`, {
      method: 'POST', duplex: 'half',
      body: new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode('{}')); c.close(); } }),
    });
    assert.equal(chunked.status, 411);
    // Nothing of the refused requests exists.
    assert.deepEqual((await srv.json('/api/streams')).map((s) => s.id), ['cam0', 'a']);
    assert.ok(await srv.metric('fc_api_stream_changes_total', { change: 'create', result: 'refused' }) >= 10);
    assert.equal((await srv.text('/healthz')).body, 'ok\n');
  } finally {
    assert.equal(await srv.stop(), 0);
  }
});
