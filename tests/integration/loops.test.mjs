// --loops N (issue 16 item 1): stream viewers spread over several event
// loops, each frame handed to another loop once (not once per viewer), the
// shutdown and the global limits as with one loop.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { Server, Subscriber, FIXTURES, until, metricIn } from '../lib/server.mjs';
import { call } from '../lib/api.mjs';
import { isIdr } from '../lib/h264.mjs';

const MAKE_FIXTURES = new URL('../sources/make-fixtures.sh', import.meta.url).pathname;
let dir;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'fc-loops-'));
  execFileSync('sh', [MAKE_FIXTURES, dir, `${FIXTURES}face-astronaut.png`], { stdio: 'inherit' });
});
after(() => rmSync(dir, { recursive: true, force: true }));

const SMALL = ['--size', '320x240', '--fps', '30'];

async function viewersOn(srv, loop) {
  return srv.metric('fc_loop_viewers', { loop: String(loop) });
}

async function encodedHigh(srv) {
  return srv.metric('fc_stream_frames_encoded_total', { stream: 'cam0', view: 'full', codec: 'jpeg', tier: 'high' });
}

test('--loops 2: viewers on both loops get every frame; a frame crosses to the other loop once, not per viewer', async () => {
  const srv = await new Server(['--synthetic', '1', ...SMALL, '--loops', '2']).start();
  const subs = [];
  try {
    assert.equal(await srv.metric('fc_loops'), 2);
    assert.equal((await srv.json('/api/server')).loops, 2);
    assert.match(srv.log, /with 1 streams, \d+ workers and 2 event loops/);
    // The router puts each new viewer on the loop with fewer: 20 viewers,
    // 10 on each.
    for (let i = 0; i < 20; i++) {
      const s = new Subscriber(`${srv.ws}/ws/streams/cam0?quality=high`);
      await s.opened;
      subs.push(s);
    }
    assert.equal(await viewersOn(srv, 0), 10);
    assert.equal(await viewersOn(srv, 1), 10);
    await until(() => subs.every((s) => s.frames.length >= 10), { timeoutMs: 15000, what: 'frames on every viewer' });
    // Over a stretch of about 2 s: what was encoded for the tier, what was
    // handed to loop 1, what the viewers got.
    const h0 = await srv.metric('fc_loop_handoffs_total', { loop: '1' });
    const e0 = await encodedHigh(srv);
    const got0 = subs.map((s) => s.frames.length);
    await until(async () => (await encodedHigh(srv)) >= e0 + 60, { timeoutMs: 15000, what: '60 more frames encoded' });
    const h1 = await srv.metric('fc_loop_handoffs_total', { loop: '1' });
    const e1 = await encodedHigh(srv);
    const handed = h1 - h0, encoded = e1 - e0;
    // Every encoded frame crossed once (give or take the frames in flight
    // while the two counters were read), never once per viewer (10x).
    assert.ok(handed >= encoded - 5 && handed <= encoded + 5, `handed ${handed}, encoded ${encoded}`);
    await until(() => subs.every((s, i) => s.frames.length - got0[i] >= 0.9 * encoded - 5), {
      timeoutMs: 15000, what: 'every viewer got >= 90% of the frames of the stretch',
    });
    const hello = subs[0].hello();
    for (const s of subs) {
      assert.deepEqual(s.errors, []); // ids strictly increasing, lengths right
      assert.deepEqual(s.hello(), hello); // the same hello on either loop
      assert.deepEqual(s.texts[1], { type: 'tier', tier: 'high', quality: s.texts[1].quality });
      const first = s.frames[0].id, last = s.frames.at(-1).id;
      assert.ok(s.frames.length >= 0.9 * (last - first + 1), `got ${s.frames.length} of ${last - first + 1}`);
    }
    // One encode per frame for all 20 viewers on both loops.
    const [st] = await srv.json('/api/streams');
    assert.ok(st.frames_encoded.high <= st.frames_produced, JSON.stringify(st));
    await Promise.all(subs.map((s) => s.close()));
    await until(async () => (await viewersOn(srv, 1)) === 0 && (await viewersOn(srv, 0)) === 0, { what: 'viewers gone' });
  } finally {
    for (const s of subs) s.ws.terminate();
    assert.equal(await srv.stop(), 0);
  }
});

// The rows of one family for one stream, from one scrape: [{labels, value}].
function rowsIn(body, name, stream) {
  const rows = [];
  for (const line of body.split('\n')) {
    const m = /^([a-z_]+)\{(.*)\} (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const labels = Object.fromEntries([...m[2].matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (labels.stream === stream) rows.push({ labels, value: Number(m[3]) });
  }
  return rows;
}

test('--loops 2: /metrics and /api/streams count the viewers of every loop, each once, and no relay as a viewer', async () => {
  const srv = await new Server(['--synthetic', '1', ...SMALL, '--loops', '2']).start();
  const subs = [];
  try {
    for (let i = 0; i < 6; i++) {
      const s = new Subscriber(`${srv.ws}/ws/streams/cam0?quality=high`);
      await s.opened;
      subs.push(s);
    }
    assert.equal(await viewersOn(srv, 1), 3);
    await until(() => subs.every((s) => s.frames.length >= 5), { timeoutMs: 15000, what: 'frames on every viewer' });
    const got = subs.map((s) => s.frames.length);
    // Several scrapes at once: each is answered, with every loop's figures.
    const bodies = await Promise.all([0, 1, 2, 3].map(() => srv.text('/metrics')));
    for (const { status, body } of bodies) {
      assert.equal(status, 200);
      assert.equal(metricIn(body, 'fc_stream_subscribers', { stream: 'cam0', view: 'full' }), 6);
      assert.equal(metricIn(body, 'fc_websocket_clients'), 6);
      assert.equal(metricIn(body, 'fc_websocket_clients', { loop: '1' }), 3);
      assert.equal(metricIn(body, 'fc_websocket_accepted_total', { loop: '1' }), 3);
      const sent = rowsIn(body, 'fc_subscriber_frames_sent_total', 'cam0');
      assert.equal(sent.length, 6, JSON.stringify(sent)); // six viewers, no relay row
      assert.equal(sent.filter((r) => r.labels.loop === '1').length, 3);
      assert.equal(new Set(sent.map((r) => r.labels.subscriber)).size, 6);
      for (const r of sent) assert.equal(r.labels.tier, 'high');
      assert.equal(rowsIn(body, 'fc_subscriber_queue_depth', 'cam0').length, 6);
      assert.equal(rowsIn(body, 'fc_subscriber_bytes_sent_total', 'cam0').length, 6);
      // What was sent before the scrape was counted by then, on either loop.
      const total = sent.reduce((a, r) => a + r.value, 0);
      assert.ok(total >= got.reduce((a, n) => a + n, 0), `sent ${total}, received before ${got}`);
      // The HELP and TYPE of a family come once, its samples together.
      assert.equal(body.split('\n').filter((l) => l === '# TYPE fc_subscriber_frames_sent_total counter').length, 1);
    }
    const [st] = await srv.json('/api/streams');
    assert.equal(st.subscribers, 6, JSON.stringify(st));
    assert.equal(st.subscribers_by_tier.high, 6, JSON.stringify(st));
    await Promise.all(subs.splice(0, 6).map((s) => s.close()));
    await until(async () => (await srv.metric('fc_stream_subscribers', { stream: 'cam0', view: 'full' })) === 0, { what: 'no viewers counted' });
    const { body } = await srv.text('/metrics');
    assert.equal(rowsIn(body, 'fc_subscriber_frames_sent_total', 'cam0').length, 0);
    assert.equal(metricIn(body, 'fc_websocket_clients', { loop: '1' }), 0);
  } finally {
    for (const s of subs) s.ws.terminate();
    assert.equal(await srv.stop(), 0);
  }
});

// A scraper that hangs up while its /metrics waits for the other loops'
// figures: the gather must drop it from its waiters (api_closed ->
// fc_census_forget), not answer a connection that is gone. Half the
// scrapers close after the request (FIN), half reset; each waits until the
// server has taken its connection, so the request is read before the close.
async function scrapeAndHangUp(srv, reset) {
  const sock = net.connect(srv.port, '127.0.0.1');
  await new Promise((resolve, reject) => sock.once('connect', resolve).once('error', reject));
  sock.on('error', () => {});
  sock.resume(); // an answer that does come is read and dropped, so 'close' can follow
  sock.write('GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
  if (reset) sock.resetAndDestroy();
  else sock.end();
  await new Promise((resolve) => sock.once('close', resolve));
}

test('--loops 2: scrapers that hang up while /metrics gathers leave the gather and the server whole', async () => {
  const srv = await new Server(['--synthetic', '1', ...SMALL, '--loops', '2']).start();
  const subs = [];
  try {
    for (let i = 0; i < 4; i++) {
      const s = new Subscriber(`${srv.ws}/ws/streams/cam0`);
      await s.opened;
      subs.push(s);
    }
    assert.equal(await viewersOn(srv, 1), 2);
    for (let round = 0; round < 10; round++) {
      // Hang-ups and a scrape that stays, at once: the one that stays is
      // answered in full whichever of the others the gather still holds.
      const [kept] = await Promise.all([srv.text('/metrics'),
        ...[0, 1, 2, 3, 4, 5].map((i) => scrapeAndHangUp(srv, i % 2 === 1))]);
      assert.equal(kept.status, 200);
      assert.equal(metricIn(kept.body, 'fc_websocket_clients', { loop: '1' }), 2);
      assert.equal(metricIn(kept.body, 'fc_stream_subscribers', { stream: 'cam0', view: 'full' }), 4);
    }
    await until(() => subs.every((s) => s.frames.length >= 5), { timeoutMs: 15000, what: 'frames on every viewer' });
    for (const s of subs) assert.deepEqual(s.errors, []);
  } finally {
    for (const s of subs) s.ws.terminate();
    assert.equal(await srv.stop(), 0);
  }
});

test('--loops 2: a deleted stream closes its viewers on the other loop with 4410; a later viewer gets 4404', async () => {
  const srv = await new Server(['--synthetic', '0', '--loops', '2']).start();
  try {
    const r = await call(srv, 'POST', '/api/streams', { body: { id: 'lobby', spec: 'synthetic:procedural,size=320x240,fps=30' } });
    assert.equal(r.status, 201, r.text);
    const a = new Subscriber(`${srv.ws}/ws/streams/lobby`);
    await a.opened;
    const b = new Subscriber(`${srv.ws}/ws/streams/lobby`);
    await b.opened;
    assert.equal(await viewersOn(srv, 1), 1);
    await until(() => a.frames.length > 3 && b.frames.length > 3, { what: 'frames' });
    assert.equal((await call(srv, 'DELETE', '/api/streams/lobby')).status, 200);
    for (const s of [a, b]) assert.equal((await s.closed).code, 4410);
    // Both loops answer for a stream that is not there.
    const c = new Subscriber(`${srv.ws}/ws/streams/lobby`);
    const d = new Subscriber(`${srv.ws}/ws/streams/lobby`);
    for (const s of [c, d]) assert.equal((await s.closed).code, 4404);
  } finally {
    assert.equal(await srv.stop(), 0);
  }
});

test('--loops 2: SIGTERM closes the viewers of both loops with 1001 and exits 0', async () => {
  const srv = await new Server(['--synthetic', '1', ...SMALL, '--loops', '2']).start();
  const subs = [];
  for (let i = 0; i < 4; i++) {
    const s = new Subscriber(`${srv.ws}/ws/streams/cam0`);
    await s.opened;
    subs.push(s);
  }
  assert.equal(await viewersOn(srv, 0), 2);
  assert.equal(await viewersOn(srv, 1), 2);
  await until(() => subs.every((s) => s.frames.length > 3), { what: 'frames' });
  assert.equal(await srv.stop(), 0);
  for (const s of subs) assert.equal((await s.closed).code, 1001);
});

test('--loops 2: --max-clients counts the viewers of every loop', async () => {
  const srv = await new Server(['--synthetic', '1', ...SMALL, '--loops', '2', '--max-clients', '3']).start();
  try {
    // --max-clients 3: three viewers in (on both loops), the next ones 1013.
    const subs = [];
    for (let i = 0; i < 5; i++) {
      const s = new Subscriber(`${srv.ws}/ws/streams/cam0`);
      await s.opened;
      subs.push(s);
    }
    await until(() => subs.slice(0, 3).every((s) => s.hello()), { what: 'three hellos' });
    const codes = await Promise.all(subs.slice(3).map((s) => s.closed));
    assert.deepEqual(codes.map((c) => c.code), [1013, 1013]);
    assert.equal(subs.slice(0, 3).filter((s) => s.hello()).length, 3);
    assert.ok((await viewersOn(srv, 1)) >= 1);
    for (const s of subs) s.ws.terminate();
    await until(async () => (await viewersOn(srv, 0)) + (await viewersOn(srv, 1)) === 0, { what: 'all gone' });
  } finally {
    assert.equal(await srv.stop(), 0);
  }
});

test('--loops 2: --max-peer-connections counts the connections of every loop', async () => {
  const srv = await new Server(['--synthetic', '1', ...SMALL, '--loops', '2', '--max-peer-connections', '5']).start();
  const opened = [];
  try {
    // --max-peer-connections 5, one address, viewers on both loops: the
    // sixth connection is refused at accept.
    const from = (i) => new WebSocket(`${srv.ws}/ws/streams/cam0`, { localAddress: '127.0.0.7', perMessageDeflate: false });
    for (let i = 0; i < 5; i++) {
      const ws = from(i);
      await new Promise((res, rej) => { ws.on('open', res); ws.on('error', rej); });
      opened.push(ws);
    }
    assert.ok((await viewersOn(srv, 1)) >= 2);
    const refused = await new Promise((resolve) => {
      const ws = from(5);
      ws.on('unexpected-response', (req, res) => resolve(res.statusCode));
      ws.on('error', () => resolve('error'));
      ws.on('open', () => resolve('open'));
    });
    assert.equal(refused, 503);
    // One that closes, on whichever loop, gives its place back.
    opened.shift().terminate();
    await until(async () => (await viewersOn(srv, 0)) + (await viewersOn(srv, 1)) === 4, { what: 'one gone' });
    const again = from(6);
    await new Promise((res, rej) => { again.on('open', res); again.on('error', rej); });
    opened.push(again);
  } finally {
    for (const ws of opened) ws.terminate();
    assert.equal(await srv.stop(), 0);
  }
});

test('--loops 2: a camera that changes size: viewers on both loops get each format message before the first frame of its format', async () => {
  const srv = await new Server(['--synthetic', '0', '--source', `file:${join(dir, 'size-change.ts')},loop,id=tv`, '--loops', '2']).start();
  try {
    const subs = [];
    for (const codec of ['h264', 'h264', 'jpeg', 'jpeg']) {
      const s = new Subscriber(`${srv.ws}/ws/streams/tv?codec=${codec}`);
      s.keepPayload = true;
      s.order = [];
      s.ws.on('message', (data, isBinary) => s.order.push(isBinary ? { frame: data.readUInt32BE(0) } : JSON.parse(data.toString())));
      await s.opened;
      subs.push(s);
    }
    assert.equal(await viewersOn(srv, 0), 2);
    assert.equal(await viewersOn(srv, 1), 2); // one of each codec on each loop
    const formats = (s) => s.texts.filter((t) => t.type === 'format');
    await until(() => subs.every((s) => formats(s).length >= 3 && s.frames.length >= 80), { timeoutMs: 30000, what: 'both sizes and back' });
    for (const s of subs) {
      assert.deepEqual(s.errors, []);
      // Each format message comes right before a frame of that format.
      for (let i = 0; i < s.order.length; i++) {
        if (s.order[i].type !== 'format') continue;
        const next = s.order.slice(i + 1).find((m) => m.frame !== undefined);
        if (!next) continue;
        const f = s.frames.find((x) => x.id === next.frame);
        if (s.hello().codec === 'h264') assert.ok(isIdr(f.payload), `access unit ${f.id} after a format message is not IDR`);
      }
    }
    // What each viewer was told, its hello first (unless it could not say
    // yet: an h264 hello before the camera's first SPS), alternates between
    // the two sizes, on either loop.
    for (const s of subs) {
      const told = [s.hello(), ...formats(s)].filter((m) => m.width > 0).map((m) => m.width);
      assert.ok(told.length >= 3, JSON.stringify(told));
      for (let i = 0; i < told.length; i++) {
        assert.ok([320, 480].includes(told[i]), JSON.stringify(told));
        if (i) assert.notEqual(told[i], told[i - 1], JSON.stringify(told));
      }
    }
  } finally {
    assert.equal(await srv.stop(), 0);
  }
});
