// Two framecast nodes behind Debian's HAProxy on loopback, configured by
// scripts/run-haproxy as docs/deploy.md describes: new avatar sessions go to
// the node with more reported room; a full node is DRAIN (agent) and its
// 503s are retried on the other, so the client never sees a refusal; a
// stream's viewers reach the node with its camera; SIGTERM on a node lets its
// running session finish while new ones go to the other.
// Every wait is for a condition HAProxy's stats socket or a node reports.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, copyFileSync, rmSync, mkdirSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Server, Subscriber, BIN, FIXTURES, until } from '../lib/server.mjs';
import { AvatarClient, agentPort, upgrade, writeShortWav } from '../lib/capacity.mjs';

const ROOT = new URL('../../', import.meta.url).pathname;
const DIR = join(dirname(BIN), 'haproxy-test');
const SOCK = join(DIR, 'stats.sock');
const BUDGET = 8;

let media, nodes = {}, haproxy, front;

// A port nobody listens on right now, for HAProxy's frontend.
async function freePort() {
  const s = createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address();
  s.close();
  await once(s, 'close');
  return port;
}

// One command to HAProxy's stats socket.
function socketCmd(cmd) {
  return new Promise((resolve, reject) => {
    const s = connect(SOCK);
    let out = '';
    s.on('connect', () => s.write(cmd + '\n'));
    s.on('data', (d) => { out += d; });
    s.on('end', () => resolve(out));
    s.on('error', reject);
  });
}

// `show stat` as { 'backend/server': row }.
async function stats() {
  const lines = (await socketCmd('show stat')).trim().split('\n');
  const head = lines[0].replace(/^# /, '').split(',');
  const rows = {};
  for (const line of lines.slice(1)) {
    const v = line.split(',');
    const row = Object.fromEntries(head.map((h, i) => [h, v[i]]));
    rows[`${row.pxname}/${row.svname}`] = row;
  }
  return rows;
}

const server = async (name) => (await stats())[`sessions/${name}`];
const waitServer = (name, fn, what) =>
  until(async () => fn(await server(name)), { timeoutMs: 15000, everyMs: 100, what: `sessions/${name}: ${what}` });

const started = (node) => node.metric('fc_avatar_sessions_total', { outcome: 'started' });

// Before each test: nothing left of the last one on either node or in HAProxy.
async function settle() {
  for (const [name, n] of Object.entries(nodes)) {
    if (n.proc.exitCode !== null) continue;
    await until(async () => (await n.metric('fc_capacity_held', { kind: 'session' })) === 0,
                { what: `${name} to have no avatar connection left` });
    await waitServer(name, (s) => s.scur === '0' && s.status === 'UP' && Number(s.weight) >= 90, 'idle and ready');
  }
}

// Idle avatar connections straight to a node (not through HAProxy): each
// holds one of its --max-sessions, which its agent reports.
async function hold(node, n, tag) {
  const held = [];
  for (let i = 0; i < n; i++) {
    const r = await upgrade(`${node.ws}/ws/${tag}${i}`);
    assert.ok(r.ws, `direct connection ${i} to the node`);
    held.push(r.ws);
  }
  return held;
}

before(async () => {
  media = mkdtempSync(join(tmpdir(), 'fc-haproxy-'));
  copyFileSync(join(FIXTURES, 'face-astronaut.png'), join(media, 'face.png'));
  writeShortWav(join(FIXTURES, 'speech-16k.wav'), join(media, 'speech.wav'), 2);
  // The nodes share the media directory, as nodes behind one balancer must
  // (docs/deploy.md): an upload may land on one and the session on another.
  // n2 has a camera, "lobby"; n1 has none.
  for (const name of ['n1', 'n2'])
    nodes[name] = await new Server(['--synthetic', '0', '--media-dir', media, '--max-sessions', String(BUDGET),
                                    '--agent-port', '0', '--drain-timeout', '60',
                                    ...(name === 'n2' ? ['--source', 'synthetic:procedural,id=lobby,size=320x240'] : [])]).start();
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(DIR, { recursive: true });
  const port = await freePort();
  front = `ws://127.0.0.1:${port}`;
  const args = ['run', '--dir', DIR, '--bind', `127.0.0.1:${port}`];
  for (const [name, n] of Object.entries(nodes)) args.push('--node', `${name}=127.0.0.1:${n.port},agent=${agentPort(n)}`);
  args.push('--stream', 'lobby=n2');
  haproxy = spawn(join(ROOT, 'scripts/run-haproxy'), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  haproxy.log = '';
  haproxy.stdout.on('data', (d) => { haproxy.log += d; });
  haproxy.stderr.on('data', (d) => { haproxy.log += d; });
  haproxy.exited = once(haproxy, 'exit');
  // Ready once its socket answers and it has heard from both agents.
  await until(async () => {
    if (haproxy.exitCode !== null) throw new Error(`haproxy exited:\n${haproxy.log}`);
    try {
      const s = await stats();
      return ['n1', 'n2'].every((n) => s[`sessions/${n}`]?.status === 'UP' && s[`sessions/${n}`]?.agent_status === 'L7OK');
    } catch {
      return false;
    }
  }, { timeoutMs: 15000, everyMs: 100, what: 'HAProxy up with both agents heard' });
});

after(async () => {
  if (haproxy && haproxy.exitCode === null) {
    haproxy.kill('SIGTERM');
    await haproxy.exited;
  }
  for (const n of Object.values(nodes)) await n.stop();
  rmSync(media, { recursive: true, force: true });
});

test('new avatar sessions go to the node that reports more room', async () => {
  await settle();
  // leastconn weighs each node's connections by its weight; the agents set
  // the weights. With as many connections of HAProxy's on each node, the
  // next one goes to the node whose weight is higher, i.e. more room.
  const through = [];
  for (let i = 0; i < 4; i++) through.push((await upgrade(`${front}/ws/even${i}`)).ws);
  assert.ok(through.every(Boolean));
  const held = [];
  try {
    await waitServer('n1', (s) => s.scur === '2', 'two connections of HAProxy\'s');
    await waitServer('n2', (s) => s.scur === '2', 'two connections of HAProxy\'s');
    held.push(...await hold(nodes.n1, 4, 'room')); // n1: 6 of 8 held, 25% left; n2: 75%
    await waitServer('n1', (s) => Number(s.weight) <= 25, 'its agent\'s lower weight');
    await waitServer('n2', (s) => Number(s.weight) >= 70, 'its agent\'s weight');
    const before = { n1: await started(nodes.n1), n2: await started(nodes.n2) };
    const clients = [new AvatarClient(`${front}/ws/lb0`), new AvatarClient(`${front}/ws/lb1`)];
    for (const c of clients) {
      await c.opened;
      c.start();
      await c.wait('streaming_started');
    }
    assert.equal(await started(nodes.n2) - before.n2, 2);
    assert.equal(await started(nodes.n1) - before.n1, 0);
    for (const c of clients) {
      await c.wait('streaming_completed');
      await c.close();
    }
  } finally {
    for (const ws of [...held, ...through]) ws.close();
  }
});

test('a full node is DRAIN (agent), and the 503 it answers is retried on the other node: the client never sees a refusal', async () => {
  await settle();
  const held = await hold(nodes.n1, BUDGET, 'full');
  const through = [];
  try {
    await waitServer('n1', (s) => s.status === 'DRAIN (agent)', 'DRAIN (agent)');
    // Drained: HAProxy sends nothing new there.
    for (let i = 0; i < 2; i++) {
      const r = await upgrade(`${front}/ws/side${i}`);
      assert.ok(r.ws, `connection ${i} through HAProxy`);
      through.push(r.ws);
    }
    await waitServer('n2', (s) => s.scur === '2', 'the two connections');
    // Between two agent checks a balancer may still pick a full node. Make
    // that happen on purpose: stop listening to n1's agent and call it ready,
    // so leastconn picks it (no connections of HAProxy's) every time.
    const refused0 = await nodes.n1.metric('fc_capacity_refused_total', { kind: 'session', reason: 'budget' });
    const retries0 = Number((await server('n1')).wretr);
    await socketCmd('disable agent sessions/n1');
    await socketCmd('set server sessions/n1 state ready');
    await waitServer('n1', (s) => s.status === 'UP', 'UP by hand');
    for (let i = 0; i < 4; i++) {
      const r = await upgrade(`${front}/ws/retried${i}`);
      assert.ok(r.ws, `connection ${i} is served, not refused (got ${r.status} ${r.body})`);
      through.push(r.ws);
    }
    assert.equal(await nodes.n1.metric('fc_capacity_refused_total', { kind: 'session', reason: 'budget' }) - refused0, 4);
    assert.equal(Number((await server('n1')).wretr) - retries0, 4);
    await waitServer('n2', (s) => s.scur === '6', 'the four retried connections too');
  } finally {
    await socketCmd('enable agent sessions/n1');
    for (const ws of [...held, ...through]) ws.close();
  }
});

test('a stream\'s viewers reach the node that has its camera, through the map', async () => {
  for (let i = 0; i < 3; i++) {
    const v = new Subscriber(`${front}/ws/streams/lobby`);
    await v.opened;
    await until(() => v.frames.length >= 3, { what: 'frames of lobby through HAProxy' });
    assert.equal(v.hello().stream, 'lobby');
    assert.deepEqual(v.errors, []);
    await v.close();
  }
  // A stream the map does not know goes to the balanced backend, whose
  // nodes say it is unknown.
  const lost = new Subscriber(`${front}/ws/streams/nowhere`);
  assert.equal((await lost.closed).code, 4404);
});

test('SIGTERM on a node: its running session completes whole while new sessions go to the other node', async () => {
  await settle();
  const running = new AvatarClient(`${front}/ws/before-sigterm`);
  await running.opened;
  running.start();
  const meta = await running.wait('metadata');
  const on = (await nodes.n1.metric('fc_avatar_sessions_active')) === 1 ? 'n1' : 'n2';
  const other = on === 'n1' ? 'n2' : 'n1';
  assert.equal(await nodes[on].metric('fc_avatar_sessions_active'), 1);
  assert.equal(await nodes[other].metric('fc_avatar_sessions_active'), 0);
  const otherStarted = await started(nodes[other]);

  nodes[on].proc.kill('SIGTERM');
  await waitServer(on, (s) => s.status === 'DRAIN (agent)', 'DRAIN (agent) once it shuts down');
  const next = [new AvatarClient(`${front}/ws/after0`), new AvatarClient(`${front}/ws/after1`)];
  for (const c of next) {
    await c.opened;
    c.start();
  }
  for (const c of next) {
    const done = await c.wait('streaming_completed');
    assert.equal(done.stopped, false);
    await c.close();
  }
  assert.equal(await started(nodes[other]) - otherStarted, 2);

  const done = await running.wait('streaming_completed');
  assert.equal(done.stopped, false);
  assert.equal(done.frames, meta.expected_frames);
  assert.equal(running.lastId, meta.expected_frames - 1, 'the session ran to its last frame');
  assert.equal((await running.closed).code, 1001);
  const [code] = await nodes[on].exited;
  assert.equal(code, 0);
});
