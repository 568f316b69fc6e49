// A symlink swapped between the check of a media path and its open. The swap
// is made by tests/lib/swap_hook.c, preloaded into the server: the first time
// the server opens a path containing FC_SWAP_MATCH, the hook first replaces
// the directory the session's files are in with a link to a directory
// outside the media directory. Deterministic: the swap lands at that exact
// point every run. The session must never read the outside files: it is
// refused (the open sees the link), or it reads the files it checked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, copyFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { Server, FIXTURES, until } from '../lib/server.mjs';

const HOOK = process.env.FRAMECAST_SWAP_HOOK;
const DIR = 'subdir-race';

// Inside: the 512x512 face and the 9.3 s speech; outside: a 512x442 face and
// 2 s of silence, so metadata says which files were decoded.
const INSIDE = { height: 512, seconds: 9.3005625 };
const OUTSIDE = { height: 442, seconds: 2 };

// A 16-bit mono PCM WAV of silence.
function silenceWav(path, seconds, rate = 16000) {
  const data = Math.round(seconds * rate) * 2, b = Buffer.alloc(44 + data);
  b.write('RIFF', 0); b.writeUInt32LE(36 + data, 4); b.write('WAVEfmt ', 8);
  b.writeUInt32LE(16, 16); b.writeUInt16LE(1, 20); b.writeUInt16LE(1, 22);
  b.writeUInt32LE(rate, 24); b.writeUInt32LE(rate * 2, 28); b.writeUInt16LE(2, 32); b.writeUInt16LE(16, 34);
  b.write('data', 36); b.writeUInt32LE(data, 40);
  writeFileSync(path, b);
}

// One server per case: the hook swaps once per process.
async function raceOnce({ match, noOpenat2 }) {
  const root = mkdtempSync(join(tmpdir(), 'fc-race-'));
  const media = join(root, 'media'), outside = join(root, 'outside');
  mkdirSync(join(media, DIR), { recursive: true });
  mkdirSync(outside);
  copyFileSync(join(FIXTURES, 'face-astronaut.png'), join(media, DIR, 'face.png'));
  copyFileSync(join(FIXTURES, 'speech-16k.wav'), join(media, DIR, 'speech.wav'));
  copyFileSync(join(FIXTURES, 'face-astronaut-top.png'), join(outside, 'face.png'));
  silenceWav(join(outside, 'speech.wav'), OUTSIDE.seconds);
  const srv = new Server(['--synthetic', '0', '--media-dir', media], {
    env: {
      LD_PRELOAD: HOOK, FC_SWAP_MATCH: match, FC_SWAP_DIR: join(media, DIR), FC_SWAP_TARGET: outside,
      FC_SWAP_NO_OPENAT2: noOpenat2 ? '1' : '0',
      // Under ASan the preloaded hook comes before the ASan runtime.
      ASAN_OPTIONS: `${process.env.ASAN_OPTIONS || ''}:verify_asan_link_order=0`,
    },
  });
  await srv.start();
  try {
    const ws = new WebSocket(`${srv.ws}/ws/race`, { perMessageDeflate: false });
    const texts = [];
    ws.on('message', (data, isBinary) => { if (!isBinary) texts.push(JSON.parse(data.toString())); });
    await new Promise((res, rej) => { ws.on('open', res); ws.on('error', rej); });
    ws.send(JSON.stringify({ type: 'start_streaming', binary: true, source_path: `${DIR}/face.png`,
                             audio_path: `${DIR}/speech.wav`, run_kwargs: { realtime: false } }));
    const answer = await until(() => texts.find((t) => t.type === 'error' || t.type === 'metadata'),
      { timeoutMs: 15000, what: 'an error or metadata' });
    ws.close();
    // The hook really swapped the directory before an open the session made.
    assert.match(srv.log, /swap_hook: .* is now a link to /, srv.log);
    return answer;
  } finally {
    await srv.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

const neverOutside = (answer) => {
  if (answer.type !== 'metadata') return;
  assert.notEqual(answer.height, OUTSIDE.height, 'decoded the picture outside the media directory');
  assert.ok(Math.abs(answer.audio_duration - OUTSIDE.seconds) > 0.01,
    'decoded the speech outside the media directory');
};

test('the picture\'s directory swapped for a link just before its open: refused', async () => {
  const answer = await raceOnce({ match: 'face.png' });
  neverOutside(answer);
  assert.equal(answer.type, 'error', JSON.stringify(answer));
  assert.match(answer.message, /^source_path: 'subdir-race\/face.png' is or passes through a symbolic link/);
});

test('the speech\'s directory swapped for a link just before its open: refused', async () => {
  const answer = await raceOnce({ match: 'speech.wav' });
  neverOutside(answer);
  assert.equal(answer.type, 'error', JSON.stringify(answer));
  assert.match(answer.message, /^audio_path: 'subdir-race\/speech.wav' is or passes through a symbolic link/);
});

// Without openat2 the server walks the path one component at a time.
test('without openat2: a link swapped in before the walk reaches it is refused', async () => {
  const answer = await raceOnce({ match: DIR, noOpenat2: true });
  neverOutside(answer);
  assert.equal(answer.type, 'error', JSON.stringify(answer));
  assert.match(answer.message, /^source_path: 'subdir-race\/face.png' is or passes through a symbolic link/);
});

test('without openat2: a swap after the walk passed the directory reads the checked files', async () => {
  const answer = await raceOnce({ match: 'speech.wav', noOpenat2: true });
  neverOutside(answer);
  assert.equal(answer.type, 'metadata', JSON.stringify(answer));
  assert.equal(answer.height, INSIDE.height);
  assert.ok(Math.abs(answer.audio_duration - INSIDE.seconds) < 1e-3, JSON.stringify(answer));
});
