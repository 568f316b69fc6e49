// Amplification through the server: a few hundred bytes of picture header or
// an 881 KB FLAC must not turn into gigabytes. Each is refused before it is
// decoded, with an error naming the limit, counted in /metrics, and the
// server's peak memory stays where it was.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync, crc32 } from 'node:zlib';
import WebSocket from 'ws';
import { Server, FIXTURES, until } from '../lib/server.mjs';

let srv, media, work, flac;

// The server's peak resident memory so far, in MB.
const peakMb = (s) => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${s.proc.pid}/status`, 'utf8'))[1]) / 1024;

function ffmpeg(...args) {
  execFileSync('ffmpeg', ['-hide_banner', '-v', 'error', '-y', ...args]);
}

// A real JPEG whose frame header is rewritten to claim 16384x16384.
function jpegClaiming16384() {
  const path = join(work, 'small.jpg');
  ffmpeg('-f', 'lavfi', '-i', 'testsrc=size=32x24', '-frames:v', '1', path);
  const b = readFileSync(path);
  const sof = b.indexOf(Buffer.from([0xff, 0xc0]));
  b.writeUInt16BE(16384, sof + 5);
  b.writeUInt16BE(16384, sof + 7);
  return b;
}

function pngChunk(type, data) {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'ascii');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

// A valid black 1-bit PNG, side x side: tens of KB, side^2 x 3 bytes as RGB.
function bilevelPng(side) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(side, 0);
  ihdr.writeUInt32BE(side, 4);
  ihdr[8] = 1; // bit depth; colour type 0 (grey)
  const raw = Buffer.alloc((1 + Math.ceil(side / 8)) * side); // filter 0, all black
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr), pngChunk('IDAT', deflateSync(raw, { level: 9 })), pngChunk('IEND', Buffer.alloc(0))]);
}

async function upload(name, bytes) {
  const form = new FormData();
  form.append(name, new Blob([bytes]), 'x');
  const res = await fetch(srv.http + '/upload', { method: 'POST', body: form });
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  return name === 'source' ? body.source_path : body.audio_path;
}

// start_streaming, and the session's first answer after streaming_started.
async function start(source_path, audio_path) {
  const ws = new WebSocket(`${srv.ws}/ws/limits`, { perMessageDeflate: false });
  const texts = [];
  ws.on('message', (d, bin) => { if (!bin) texts.push(JSON.parse(d.toString())); });
  await new Promise((res, rej) => { ws.on('open', res); ws.on('error', rej); });
  ws.send(JSON.stringify({ type: 'start_streaming', binary: true, source_path, audio_path, run_kwargs: { realtime: false } }));
  const answer = await until(() => texts.find((t) => t.type === 'error' || t.type === 'metadata'),
    { timeoutMs: 30000, what: 'an error or metadata' });
  ws.close();
  return answer;
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'fc-limits-'));
  // Made first: seconds of ffmpeg between two uploads would let the server
  // close the client's idle keep-alive connection under its next POST.
  flac = join(work, 'x.flac');
  ffmpeg('-f', 'lavfi', '-i', 'anullsrc=r=192000:cl=7.1', '-t', '600', '-c:a', 'flac', '-compression_level', '0', flac);
  media = join(work, 'media');
  srv = await new Server(['--synthetic', '0', '--media-dir', media]).start();
});

after(async () => {
  await srv.stop();
  rmSync(work, { recursive: true, force: true });
});

test('a 903-byte JPEG claiming 16384x16384 is refused from its header', async () => {
  const speech = await upload('audio', readFileSync(join(FIXTURES, 'speech-16k.wav')));
  const pic = await upload('source', jpegClaiming16384());
  const base = peakMb(srv);
  const answer = await start(pic, speech);
  assert.equal(answer.type, 'error', JSON.stringify(answer));
  assert.equal(answer.message, `source_path '${pic}': JPEG is 16384x16384, 268435456 pixels, more than ` +
    'the 4194304 allowed (--max-picture-pixels): refused');
  assert.equal(await srv.metric('fc_pictures_refused_total', { reason: 'pixels' }), 1);
  assert.ok(peakMb(srv) < base + 100, `peak memory ${base} -> ${peakMb(srv)} MB`);
});

test('a 16384x16384 PNG of tens of kilobytes is refused from its header', async () => {
  const png = bilevelPng(16384);
  assert.ok(png.length < 100000, `${png.length} bytes`);
  const pic = await upload('source', png);
  const speech = await upload('audio', readFileSync(join(FIXTURES, 'speech-16k.wav')));
  const base = peakMb(srv);
  const answer = await start(pic, speech);
  assert.equal(answer.type, 'error', JSON.stringify(answer));
  assert.match(answer.message, /PNG is 16384x16384, 268435456 pixels, more than the 4194304 allowed \(--max-picture-pixels\)/);
  assert.equal(await srv.metric('fc_pictures_refused_total', { reason: 'pixels' }), 2);
  assert.ok(peakMb(srv) < base + 100, `peak memory ${base} -> ${peakMb(srv)} MB`);
});

test('a truncated JPEG is an error, not a half-grey picture', async () => {
  const path = join(work, 'big.jpg');
  ffmpeg('-f', 'lavfi', '-i', 'testsrc=size=256x256', '-frames:v', '1', '-q:v', '2', path);
  const whole = readFileSync(path);
  const pic = await upload('source', whole.subarray(0, whole.length >> 1));
  const speech = await upload('audio', readFileSync(join(FIXTURES, 'speech-16k.wav')));
  const answer = await start(pic, speech);
  assert.equal(answer.type, 'error', JSON.stringify(answer));
  assert.match(answer.message, new RegExp(`^source_path '${pic}': bad JPEG: `));
  assert.ok(await srv.metric('fc_pictures_refused_total', { reason: 'damaged' }) >= 1);
});

test('an 881 KB FLAC of 600 s at 192 kHz, 8 channels, is refused before it is decoded', async () => {
  const speech = await upload('audio', readFileSync(flac));
  const pic = await upload('source', readFileSync(join(FIXTURES, 'face-astronaut.png')));
  const base = peakMb(srv);
  const answer = await start(pic, speech);
  assert.equal(answer.type, 'error', JSON.stringify(answer));
  assert.equal(answer.message, `audio_path '${speech}': audio: 192000 Hz x 8 channels x 600.0 s is ` +
    '921600000 samples, more than the 57600000 allowed (--max-audio-samples): refused');
  assert.equal(await srv.metric('fc_audio_refused_total', { reason: 'samples' }), 1);
  assert.ok(peakMb(srv) < base + 100, `peak memory ${base} -> ${peakMb(srv)} MB`);
});

test('the caps are the flags: an image source over --max-picture-pixels fails start-up by name', async () => {
  const bad = new Server(['--synthetic', '0', '--max-picture-pixels', '65536',
    '--source', `synthetic:image=${FIXTURES}face-astronaut.png`]);
  await assert.rejects(bad.start(),
    /face-astronaut\.png: PNG is 512x512, 262144 pixels, more than the 65536 allowed \(--max-picture-pixels\)/);
  assert.notEqual(await bad.stop(), 0);
  const flag = new Server(['--max-audio-samples', '7999']);
  await assert.rejects(flag.start(), /bad --max-audio-samples '7999'/);
});
