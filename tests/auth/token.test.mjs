// `framecast token` as a user runs it: the key from FRAMECAST_API_KEY or
// --api-key-file, the token on stdout, and its signature recomputed here
// with node's own HMAC-SHA256, a second implementation of the format in
// docs/api.md.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createHmac } from 'node:crypto';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN } from '../lib/server.mjs';

const KEY = 'f3c1e0a7b29d4c5e8a6b0d1c2e3f4a5b';
const OTHER = 'another-key-for-the-file-0123456789';

async function token(args, env = {}) {
  const clean = { ...process.env };
  delete clean.FRAMECAST_API_KEY;
  const proc = spawn(BIN, ['token', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...clean, ...env } });
  let stdout = '', stderr = '';
  proc.stdout.on('data', (d) => { stdout += d; });
  proc.stderr.on('data', (d) => { stderr += d; });
  const [code] = await once(proc, 'exit');
  return { code, stdout, stderr };
}

// The signature the format prescribes, computed independently.
function signature(key, body) {
  const secret = createHmac('sha256', key).update('framecast viewer tokens v1').digest();
  return createHmac('sha256', secret).update(body).digest('hex').toUpperCase();
}

let dir;
before(() => { dir = mkdtempSync(join(tmpdir(), 'fc-token-')); });
after(() => { rmSync(dir, { recursive: true, force: true }); });

test('a token for a stream, signed with the key from the environment', async () => {
  const before = Math.floor(Date.now() / 1000);
  const r = await token(['--stream', 'cam0', '--ttl', '3600'], { FRAMECAST_API_KEY: KEY });
  const after = Math.floor(Date.now() / 1000);
  assert.equal(r.code, 0, r.stderr);
  const m = /^(v1~cam0~(\d+))~([0-9A-F]{64})\n$/.exec(r.stdout);
  assert.ok(m, `not a token: ${JSON.stringify(r.stdout)}`);
  const expires = Number(m[2]);
  assert.ok(expires >= before + 3600 && expires <= after + 3600, `expires ${expires}`);
  assert.equal(m[3], signature(KEY, m[1]));
  // URL-safe as printed: encoding it changes nothing.
  const printed = r.stdout.trim();
  assert.equal(encodeURIComponent(printed), printed);
});

test('--api-key-file wins over the environment; --ttl defaults to an hour', async () => {
  const file = join(dir, 'key');
  writeFileSync(file, `${OTHER}\n`);
  const now = Math.floor(Date.now() / 1000);
  const r = await token(['--stream', 'lobby.east_2', '--api-key-file', file], { FRAMECAST_API_KEY: KEY });
  assert.equal(r.code, 0, r.stderr);
  const [body, sig] = [r.stdout.trim().slice(0, -65), r.stdout.trim().slice(-64)];
  assert.match(body, /^v1~lobby\.east_2~\d+$/);
  assert.equal(sig, signature(OTHER, body));
  assert.notEqual(sig, signature(KEY, body));
  const expires = Number(body.split('~')[2]);
  assert.ok(expires >= now + 3600 && expires <= now + 3602, `expires ${expires}`);
});

test('usage errors name the flag and exit 2; an unreadable key file exits 1', async () => {
  let r = await token(['--stream', 'cam0']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /no API key: give --api-key-file PATH or set FRAMECAST_API_KEY/);
  assert.equal(r.stdout, '');

  r = await token(['--stream', 'a/b'], { FRAMECAST_API_KEY: KEY });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /bad --stream 'a\/b'/);

  for (const ttl of ['0', '-5', '31622401', '1h', '']) {
    r = await token(['--stream', 'cam0', '--ttl', ttl], { FRAMECAST_API_KEY: KEY });
    assert.equal(r.code, 2, `--ttl ${ttl}`);
    assert.match(r.stderr, /bad --ttl/);
  }

  r = await token([], { FRAMECAST_API_KEY: KEY });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--stream ID is required/);

  r = await token(['--stream', 'cam0', '--api-key-file', join(dir, 'absent')]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /absent: No such file or directory/);

  r = await token(['--stream', 'cam0'], { FRAMECAST_API_KEY: 'short' });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /FRAMECAST_API_KEY: the API key has 5 characters; it needs 16 to 256/);
});

test('--help describes the command', async () => {
  const r = await token(['--help']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /usage: framecast token --stream ID/);
  assert.match(r.stdout, /--ttl SECONDS/);
  assert.match(r.stdout, /FRAMECAST_API_KEY/);
});
