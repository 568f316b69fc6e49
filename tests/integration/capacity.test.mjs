// Capacity, admission and the drain on one real server: budgets refuse new
// WebSockets with 503 before the upgrade, a saturated pool refuses new
// sessions and subscriptions while the admitted ones go on, the HAProxy agent
// and /readyz tell the same, and SIGTERM lets running sessions finish whole
// while viewers watch on, then closes everything with 1001 and exits 0.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, copyFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect } from 'node:net';
import { join } from 'node:path';
import { Server, Subscriber, FIXTURES, until } from '../lib/server.mjs';
import { AvatarClient, agentLine, agentPort, readyz, upgrade, writeShortWav } from '../lib/capacity.mjs';

const SLOW_PLUGIN = process.env.FRAMECAST_EXAMPLE_PLUGIN_SLOW;
let media;

before(() => {
  media = mkdtempSync(join(tmpdir(), 'fc-capacity-'));
  copyFileSync(join(FIXTURES, 'face-astronaut.png'), join(media, 'face.png'));
  copyFileSync(join(FIXTURES, 'speech-16k.wav'), join(media, 'speech.wav')); // 9.3 s
  writeShortWav(join(FIXTURES, 'speech-16k.wav'), join(media, 'short.wav'), 2);
});

after(() => rmSync(media, { recursive: true, force: true }));

const serve = (args) => new Server(['--synthetic', '1', '--size', '320x240', '--media-dir', media, '--load-admission', 'on',
                                    '--agent-port', '0', ...args]).start();

test('budgets: past --max-sessions and --max-subscribers the upgrade is a 503 naming the flag; the agent and /readyz agree', async () => {
  const srv = await serve(['--max-sessions', '2', '--max-subscribers', '1']);
  const open = [];
  try {
    const agent = agentPort(srv);
    assert.match(await agentLine(agent), /^up ready ([1-9]|[1-9]\d|100)% maxconn:2\n$/);
    assert.equal((await readyz(srv)).status, 200);

    for (const id of ['a1', 'a2']) open.push((await upgrade(`${srv.ws}/ws/${id}`)).ws);
    assert.ok(open.every(Boolean));
    const third = await upgrade(`${srv.ws}/ws/a3`);
    assert.equal(third.status, 503);
    assert.match(third.body, /server at capacity: 2 avatar sessions \(--max-sessions 2\)/);
    assert.equal(await agentLine(agent), 'drain\n');
    const r = await readyz(srv);
    assert.equal(r.status, 503);
    assert.equal(r.doc.full, true);
    assert.equal(r.doc.sessions, 2);
    assert.match(r.doc.why, /--max-sessions 2/);
    assert.equal(await srv.metric('fc_capacity_refused_total', { kind: 'session', reason: 'budget' }), 1);

    // Subscribers have their own budget; the full session budget is not theirs.
    const v1 = await upgrade(`${srv.ws}/ws/streams/cam0`);
    assert.ok(v1.ws);
    open.push(v1.ws);
    const v2 = await upgrade(`${srv.ws}/ws/streams/cam0`);
    assert.equal(v2.status, 503);
    assert.match(v2.body, /1 stream subscribers \(--max-subscribers 1\)/);

    // A place that comes free is taken again.
    open.shift().close();
    await until(async () => (await readyz(srv)).status === 200, { what: '/readyz ready again' });
    assert.match(await agentLine(agent), /^up ready \d+% maxconn:2\n$/);
    const again = await upgrade(`${srv.ws}/ws/a4`);
    assert.ok(again.ws);
    open.push(again.ws);
  } finally {
    for (const ws of open) ws.close();
    assert.equal(await srv.stop(), 0);
  }
});

test('the agent answers 32 connections at once at most, and ends each by its deadline', async () => {
  const srv = await serve([]);
  const port = agentPort(srv);
  // Peers that keep their side open: the agent has answered and waits for
  // them to close, up to its 2 s deadline.
  const held = [];
  try {
    for (let i = 0; i < 32; i++) {
      const s = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
      s.got = '';
      s.on('data', (d) => { s.got += d; });
      held.push(s);
    }
    await until(() => held.every((s) => s.got.endsWith('\n')), { what: 'the 32 answers' });
    assert.ok(held.every((s) => /^up ready \d+% maxconn:\d+\n$/.test(s.got)));
    assert.equal(await agentLine(port), '', 'the 33rd at once is closed unanswered');
    assert.equal(await srv.metric('fc_agent_refused_total'), 1);
    // Once their deadline has closed them, there is room again.
    await until(async () => (await agentLine(port)) !== '', { what: 'the held ones to be closed' });
  } finally {
    for (const s of held) s.destroy();
    assert.equal(await srv.stop(), 0);
  }
});

test('load: a saturated pool refuses new sessions with clear reasons, not viewers, and takes sessions again once it has room', async () => {
  assert.ok(SLOW_PLUGIN, 'FRAMECAST_EXAMPLE_PLUGIN_SLOW names the slow example plugin (meson sets it)');
  // One worker and a generator that holds it 100 ms per 40 ms frame: the
  // pool is saturated and the session misses deadlines, with no CPU burnt.
  const srv = await serve(['--workers', '1', '--generator', SLOW_PLUGIN]);
  const waiting = new AvatarClient(`${srv.ws}/ws/waiting`);
  const busy = new AvatarClient(`${srv.ws}/ws/busy`);
  try {
    await waiting.opened;
    await busy.opened;
    busy.start();
    await busy.wait('metadata');
    const full = await until(async () => {
      const r = await readyz(srv);
      return r.status === 503 && r.doc;
    }, { timeoutMs: 15000, what: '/readyz to report the saturated pool' });
    assert.equal(full.full, true);
    assert.match(full.why, /workers \d+% busy|missed their deadline/);
    assert.equal(await agentLine(agentPort(srv)), 'drain\n');

    // The connection that was admitted before is told why, in an error.
    waiting.start();
    const err = await waiting.wait('error');
    assert.match(err.message, /^server at capacity: (workers \d+% busy|.*missed their deadline)/);
    assert.equal(waiting.text('streaming_started'), undefined);
    // A new avatar connection is refused before the upgrade; a viewer,
    // who costs the loop and not the workers, is not.
    const avatar = await upgrade(`${srv.ws}/ws/late`);
    assert.equal(avatar.status, 503);
    assert.match(avatar.body, /server at capacity/);
    const viewer = await upgrade(`${srv.ws}/ws/streams/cam0`);
    assert.ok(viewer.ws, 'a viewer is admitted while only the workers are full');
    viewer.ws.close();
    assert.ok(await srv.metric('fc_capacity_refused_total', { kind: 'work' }) >= 1);
    assert.ok(await srv.metric('fc_capacity_refused_total', { kind: 'session' }) >= 1);
    assert.equal(await srv.metric('fc_capacity_refused_total', { kind: 'subscriber' }), 0);
    // The admitted session still runs.
    const before = busy.frames;
    await until(() => busy.frames > before, { timeoutMs: 10000, what: 'the admitted session to go on' });

    busy.ws.send(JSON.stringify({ type: 'stop_streaming' }));
    await busy.wait('streaming_completed');
    await until(async () => (await readyz(srv)).status === 200, { timeoutMs: 15000, what: 'room again' });
    waiting.texts.length = 0;
    waiting.start({ audio_path: 'short.wav' });
    await waiting.wait('streaming_started');
  } finally {
    waiting.close();
    busy.close();
    assert.equal(await srv.stop(), 0);
  }
});

test('SIGTERM: running sessions finish whole while viewers watch on; idle connections and new work are refused at once; then 1001 and exit 0', async () => {
  const srv = await serve(['--drain-timeout', '60']);
  const viewer = new Subscriber(`${srv.ws}/ws/streams/cam0`);
  const idle = new AvatarClient(`${srv.ws}/ws/idle`);
  const session = new AvatarClient(`${srv.ws}/ws/running`);
  await Promise.all([viewer.opened, idle.opened, session.opened]);
  session.start({ audio_path: 'short.wav' });
  const meta = await session.wait('metadata');
  await until(() => session.frames > 0, { what: 'the first frame' });
  await until(() => viewer.frames.length > 0, { what: 'the viewer\'s first frame' });

  srv.proc.kill('SIGTERM');
  const agent = agentPort(srv);
  await until(async () => (await agentLine(agent)) === 'drain\n', { what: 'the agent to say drain' });
  const r = await readyz(srv);
  assert.equal(r.status, 503);
  assert.equal(r.doc.draining, true);
  const refused = await upgrade(`${srv.ws}/ws/newcomer`);
  assert.equal(refused.status, 503);
  assert.match(refused.body, /server is shutting down/);
  const idleClosed = await idle.closed;
  assert.equal(idleClosed.code, 1001);
  const viewerFramesAtIdleClose = viewer.frames.length;

  const done = await session.wait('streaming_completed');
  assert.equal(done.stopped, false);
  assert.equal(done.frames, meta.expected_frames);
  assert.equal(session.lastId, meta.expected_frames - 1, 'the session ran to its last frame');
  const sessionClosed = await session.closed;
  assert.equal(sessionClosed.code, 1001);
  const viewerClosed = await viewer.closed;
  assert.equal(viewerClosed.code, 1001);
  assert.ok(viewer.frames.length > viewerFramesAtIdleClose, 'the viewer kept getting frames during the drain');
  assert.deepEqual(viewer.errors, []);
  const [code] = await srv.exited;
  assert.equal(code, 0);
});

test('SIGTERM with no session running exits at once, whatever --drain-timeout says', async () => {
  const srv = await serve(['--drain-timeout', '600']);
  const viewer = new Subscriber(`${srv.ws}/ws/streams/cam0`);
  await viewer.opened;
  // stop() kills with SIGKILL if the server is not gone within 5 s.
  assert.equal(await srv.stop(), 0);
  assert.equal((await viewer.closed).code, 1001);
});

test('--drain-timeout cuts a session that runs longer, and a second SIGTERM does not wait at all', async () => {
  for (const second of [false, true]) {
    const srv = await serve(['--drain-timeout', second ? '600' : '1']);
    const session = new AvatarClient(`${srv.ws}/ws/long`);
    await session.opened;
    session.start(); // 9.3 s of speech
    const meta = await session.wait('metadata');
    await until(() => session.frames > 0, { what: 'the first frame' });
    srv.proc.kill('SIGTERM');
    if (second) {
      await until(async () => (await agentLine(agentPort(srv))) === 'drain\n', { what: 'the drain' });
      srv.proc.kill('SIGTERM');
    }
    const closed = await session.closed;
    assert.equal(closed.code, 1001);
    assert.equal(session.text('streaming_completed'), undefined);
    assert.ok(session.frames < meta.expected_frames);
    const [code] = await srv.exited;
    assert.equal(code, 0);
  }
});
