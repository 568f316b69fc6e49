// Streams added through the API outlive the server: restarts on the same
// --db, FRAMECAST_DB over --db, kill -9 in the middle of a burst of writes,
// and databases that cannot be used, refused at start with the reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, Server, Subscriber, until } from '../lib/server.mjs';
import { call } from '../lib/api.mjs';

const scratch = () => mkdtempSync(join(tmpdir(), 'fc-store-'));

// The file as SQLite itself sees it, through Python's sqlite3 (another
// reader than framecast): integrity and every stream row with its qualities.
function readDb(path) {
  const py = `
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
ok = db.execute("PRAGMA integrity_check").fetchone()[0]
rows = {}
for id, spec, efps, det, dfps in db.execute("SELECT id, spec, encode_fps, detect, detect_fps FROM streams"):
    rows[id] = {"spec": spec, "encode_fps": efps, "detect": det, "detect_fps": dfps, "quality": {}}
for sid, tier, q in db.execute("SELECT stream_id, tier, quality FROM stream_quality"):
    rows[sid]["quality"][tier] = q
print(json.dumps({"integrity": ok, "rows": rows}))
`;
  return JSON.parse(execFileSync('python3', ['-c', py, path], { encoding: 'utf8' }));
}

test('a stream added through the API is back, and live, after a restart on the same --db', async () => {
  const dir = scratch();
  const db = join(dir, 'streams.db');
  try {
    let srv = await new Server(['--synthetic', '1', '--size', '320x240', '--db', db]).start();
    let r = await call(srv, 'POST', '/api/streams', {
      body: { id: 'kept', spec: 'synthetic:procedural,size=320x240,fps=10', encode_fps: 5, quality: { high: 70 } },
    });
    assert.equal(r.status, 201, r.text);
    r = await call(srv, 'POST', '/api/streams', { body: { id: 'dropped', spec: 'synthetic:procedural' } });
    assert.equal(r.status, 201, r.text);
    r = await call(srv, 'PATCH', '/api/streams/kept', { body: { detect_fps: 3, quality: { low: 30 } } });
    assert.equal(r.status, 200, r.text);
    const created = r.json.created;
    r = await call(srv, 'DELETE', '/api/streams/dropped');
    assert.equal(r.status, 200, r.text);
    assert.equal(await srv.stop(), 0);

    srv = await new Server(['--synthetic', '1', '--size', '320x240', '--db', db]).start();
    try {
      assert.match(srv.log, new RegExp(`stream store: ${db}, 1 stored streams`));
      const list = await srv.json('/api/streams');
      assert.deepEqual(list.map((s) => [s.id, s.origin]), [['cam0', 'cli'], ['kept', 'api']]);
      const kept = list[1];
      assert.equal(kept.spec, 'synthetic:procedural,size=320x240,fps=10');
      assert.deepEqual(kept.settings, { encode_fps: 5, detect: null, detect_fps: 3,
        quality: { high: 70, medium: null, low: 30 } });
      assert.equal(kept.encode_fps, 5);
      assert.deepEqual(kept.quality, { high: 70, medium: 75, low: 30 });
      assert.equal(kept.created, created);
      const s = new Subscriber(`${srv.ws}/ws/streams/kept`);
      await until(() => s.frames.length >= 3, { what: 'frames of the stored stream' });
      assert.equal(s.hello().width, 320);
      await s.close();
      // Still the API's to change.
      r = await call(srv, 'DELETE', '/api/streams/kept');
      assert.equal(r.status, 200, r.text);
    } finally {
      assert.equal(await srv.stop(), 0);
    }
    assert.deepEqual(readDb(db), { integrity: 'ok', rows: {} });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('FRAMECAST_DB overrides --db; :memory: keeps nothing', async () => {
  const dir = scratch();
  const flag = join(dir, 'flag.db'), env = join(dir, 'env.db');
  try {
    const srv = await new Server(['--synthetic', '0', '--db', flag], { env: { FRAMECAST_DB: env } }).start();
    try {
      assert.match(srv.log, new RegExp(`stream store: ${env} \\(from FRAMECAST_DB, over --db ${flag}\\)`));
      const r = await call(srv, 'POST', '/api/streams', { body: { id: 'here', spec: 'synthetic:procedural' } });
      assert.equal(r.status, 201, r.text);
    } finally {
      assert.equal(await srv.stop(), 0);
    }
    assert.equal(existsSync(flag), false);
    assert.deepEqual(Object.keys(readDb(env).rows), ['here']);
    const mem = await new Server(['--synthetic', '0', '--db', ':memory:']).start();
    try {
      assert.equal((await call(mem, 'POST', '/api/streams', { body: { id: 'x', spec: 'synthetic:procedural' } })).status, 201);
    } finally {
      await mem.stop();
    }
    const again = await new Server(['--synthetic', '0', '--db', ':memory:']).start();
    try {
      assert.deepEqual(await again.json('/api/streams'), []);
    } finally {
      await again.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('kill -9 during a burst of API writes, then a clean start with a consistent store', async (t) => {
  const dir = scratch();
  const db = join(dir, 'burst.db');
  const args = ['--synthetic', '0', '--size', '160x120', '--db', db];
  try {
    const srv = await new Server(args).start();
    // Before the burst: streams to change and to delete, all answered. So
    // many that the burst cannot be done in the moment between the tenth
    // answer and the kill landing (each change is its own fsync'd commit).
    const P = 64;
    for (let i = 0; i < P; i++) {
      const r = await call(srv, 'POST', '/api/streams', { body: { id: `p${i}`, spec: 'synthetic:procedural,fps=10' } });
      assert.equal(r.status, 201, r.text);
    }
    for (let i = 0; i < 4; i++) {
      const r = await call(srv, 'POST', '/api/streams', { body: { id: `q${i}`, spec: 'synthetic:procedural' } });
      assert.equal(r.status, 201, r.text);
    }
    // The burst: creates, changes and deletes all at once, not awaited; the
    // server is killed when ten of them have been done (answered 200/201),
    // with the rest still on their way.
    const acked = new Set();
    const requests = [];
    let answered = 0;
    let killed = false;
    const send = (label, method, path, body) => {
      requests.push(call(srv, method, path, { body }).then((r) => {
        answered++;
        if (![200, 201].includes(r.status)) return;
        // One answered after the kill was sent was committed before it landed.
        acked.add(label);
        if (acked.size === 10 && !killed) {
          srv.proc.kill('SIGKILL');
          killed = true;
        }
      }, () => { /* cut off by the kill */ }));
    };
    for (let i = 0; i < 24; i++)
      send(`create s${i}`, 'POST', '/api/streams', { id: `s${i}`, spec: `synthetic:procedural,fps=${5 + i}`, quality: { high: 40 + i } });
    for (let i = 0; i < P; i++)
      send(`update p${i}`, 'PATCH', `/api/streams/p${i}`, { encode_fps: 7, quality: { high: 33, low: 22 } });
    for (let i = 0; i < 4; i++)
      send(`delete q${i}`, 'DELETE', `/api/streams/q${i}`);
    await Promise.all(requests);
    const total = 24 + P + 4;
    assert.ok(killed, `only ${acked.size} of ${total} changes were done: the server was never killed`);
    await srv.exited;
    assert.equal(srv.proc.signalCode, 'SIGKILL');
    const acknowledged = [...acked];
    t.diagnostic(`${acknowledged.length} of ${total} changes done before the kill (${answered} answered in all)`);
    assert.ok(answered < total, 'every change was answered before the kill: nothing was cut off');

    // Another reader finds the file whole...
    const seen = readDb(db);
    assert.equal(seen.integrity, 'ok');
    // ...every answered change in it, and each row either before or after
    // its change, never a mix.
    for (const label of acknowledged) {
      const [verb, id] = label.split(' ');
      if (verb === 'create') assert.ok(id in seen.rows, `${id} was created (201) but is not stored`);
      if (verb === 'delete') assert.ok(!(id in seen.rows), `${id} was deleted (200) but is stored`);
      if (verb === 'update') assert.equal(seen.rows[id].encode_fps, 7, `${id} was changed (200) but is stored unchanged`);
    }
    for (const [id, row] of Object.entries(seen.rows)) {
      if (id.startsWith('s')) {
        const i = Number(id.slice(1));
        assert.deepEqual(row, { spec: `synthetic:procedural,fps=${5 + i}`, encode_fps: null, detect: null,
          detect_fps: null, quality: { high: 40 + i } });
      } else if (id.startsWith('p')) {
        const changed = { spec: 'synthetic:procedural,fps=10', encode_fps: 7, detect: null, detect_fps: null, quality: { high: 33, low: 22 } };
        const unchanged = { spec: 'synthetic:procedural,fps=10', encode_fps: null, detect: null, detect_fps: null, quality: {} };
        assert.ok(JSON.stringify(row) === JSON.stringify(changed) || JSON.stringify(row) === JSON.stringify(unchanged),
          `${id} is neither before nor after its change: ${JSON.stringify(row)}`);
      } else {
        assert.match(id, /^q[0-3]$/);
      }
    }
    for (let i = 0; i < P; i++) assert.ok(`p${i}` in seen.rows, `p${i} was never deleted`);

    // framecast starts on it cleanly, with exactly those streams, live.
    const again = await new Server(args).start();
    try {
      const list = await again.json('/api/streams');
      assert.deepEqual(list.map((s) => s.id).sort(), Object.keys(seen.rows).sort());
      const one = list.find((s) => s.id.startsWith('p'));
      const sub = new Subscriber(`${again.ws}/ws/streams/${one.id}`);
      await until(() => sub.frames.length >= 2, { what: 'frames after the restart' });
      await sub.close();
      // The interrupted requests can be made again.
      const missing = [...Array(24).keys()].map((i) => `s${i}`).find((id) => !(id in seen.rows));
      if (missing) {
        const r = await call(again, 'POST', '/api/streams', { body: { id: missing, spec: 'synthetic:procedural' } });
        assert.equal(r.status, 201, r.text);
      }
    } finally {
      assert.equal(await again.stop(), 0);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a database that cannot be used is a clear start-up error naming it', () => {
  const dir = scratch();
  const serve = (db, opts = {}) => spawnSync(opts.cmd || BIN, [...(opts.pre || []), 'serve', '--port', '0', '--synthetic', '0', '--db', db],
    { encoding: 'utf8', timeout: 10000, env: { ...process.env, FRAMECAST_DB: '' } });
  try {
    let r = serve(join(dir, 'no', 'such', 'dir', 'x.db'));
    assert.equal(r.status, 1);
    assert.match(r.stderr, /stream store: .*\/no\/such\/dir\/x\.db: cannot create it: directory .*\/no\/such\/dir: No such file or directory/);

    const junk = join(dir, 'junk.db');
    writeFileSync(junk, Buffer.alloc(8192, 0x5a));
    r = serve(junk);
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`stream store: ${junk}: not an SQLite database`));

    // A database of ours with a page overwritten.
    const hurt = join(dir, 'hurt.db');
    execFileSync('python3', ['-c', `
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("CREATE TABLE filler (x)")
db.executemany("INSERT INTO filler VALUES (?)", [("x" * 900,)] * 40)
db.commit()
`, hurt]);
    const bytes = readFileSync(hurt);
    bytes.fill(0xff, 4096 + 8, 4096 + 200);
    writeFileSync(hurt, bytes);
    r = serve(hurt);
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`stream store: ${hurt}: (the database is corrupt|.*malformed)`));

    // One that can only be read: in a mount namespace of its own (root
    // passes permission bits), the directory is a read-only bind mount.
    const ro = join(dir, 'ro');
    execFileSync('mkdir', [ro]);
    const inRo = spawnSync('unshare', ['-m', 'sh', '-c',
      'mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" && exec "$2" serve --port 0 --synthetic 0 --db "$1/x.db"',
      'sh', ro, BIN], { encoding: 'utf8', timeout: 10000, env: { ...process.env, FRAMECAST_DB: '' } });
    assert.equal(inRo.status, 1, inRo.stderr);
    assert.match(inRo.stderr, new RegExp(`stream store: ${ro}/x\\.db: `));
    assert.match(inRo.stderr, /read-only|can only be read|not writable|cannot create/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
