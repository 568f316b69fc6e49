#!/usr/bin/env node
// Subscribe -> first frame on an RTSP camera, three ways, in one run:
//   watched      the stream is live (another viewer is on it): the joiner
//                gets the newest frame at once, encoded for it
//   detecting    the stream is live for detection only, decoding key frames:
//                the joiner gets the last one at once, then every frame
//   idle-closed  nobody consumed it, the RTSP session is closed: connect,
//                then wait for the camera's next key frame
// Time from opening the WebSocket (its handshake included) to the first
// frame's message, on this machine's loopback.
//
//   node bench/first-frame.mjs [--trials 10] [--gop 1] [--size 1280x720]
//
// One camera (tests/lib/rtsp_server.py, 30 fps, a key frame every --gop
// seconds) and one server (--idle-close 0) with three streams on it. Writes
// bench/out/first-frame.md and prints it.
import { mkdirSync, writeFileSync } from 'node:fs';
import WebSocket from 'ws';
import { Server, sleep, until } from '../tests/lib/server.mjs';
import { Camera } from '../tests/lib/camera.mjs';
import { LOAD_AT_START, machine, parseOptions } from './options.mjs';

const opt = parseOptions('first-frame', { trials: 10, gop: 1, size: '1280x720' });

// Milliseconds from opening a subscriber to its first frame.
function firstFrame(url) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.on('message', (data, isBinary) => {
      if (!isBinary) return;
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      ws.terminate();
      resolve(ms);
    });
    ws.on('error', reject);
  });
}

const cam = await Camera.start(['--size', opt.size, '--fps', '30', '--gop', String(30 * opt.gop),
  '--bitrate', '2500', '--pattern', 'smpte', '--speed', '4']);
const srv = await new Server(['--synthetic', '0', '--idle-close', '0',
  '--source', `${cam.url},id=watched`, '--source', `${cam.url},id=detecting,detect=${1 / opt.gop}`,
  '--source', `${cam.url},id=idle`]).start();
const state = async (id) => (await srv.json(`/api/streams/${id}`));
const times = { watched: [], detecting: [], 'idle-closed': [] };
const keeper = new WebSocket(`${srv.ws}/ws/streams/watched`, { perMessageDeflate: false });
try {
  await until(async () => (await state('watched')).state === 'live', { timeoutMs: 20000, what: 'watched live' });
  await until(async () => (await state('detecting')).input.key_frames_only, { timeoutMs: 20000, what: 'key frames only' });
  for (let i = 0; i < opt.trials; i++) {
    times.watched.push(await firstFrame(`${srv.ws}/ws/streams/watched`));
    times.detecting.push(await firstFrame(`${srv.ws}/ws/streams/detecting`));
    // Back to key frames only before the next trial.
    await until(async () => (await state('detecting')).input.key_frames_only, { timeoutMs: 20000, what: 'key frames only' });
    await until(async () => (await state('idle')).state === 'idle', { timeoutMs: 20000, what: 'idle' });
    const open = cam.open();
    times['idle-closed'].push(await firstFrame(`${srv.ws}/ws/streams/idle`));
    await cam.until(() => cam.open() === open, { what: 'the session to close' });
    // A random phase against the camera's key frames.
    await sleep(Math.random() * opt.gop * 1000);
  }
} finally {
  keeper.terminate();
  await srv.stop();
  await cam.stop();
}

const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];
const md = [
  `CPU: ${machine()}, load average ${LOAD_AT_START.toFixed(2)} before the run; ${new Date().toISOString().slice(0, 10)}; ` +
  `one ${opt.size} 30 fps RTSP camera, a key frame every ${opt.gop} s; ${opt.trials} trials each, WebSocket handshake included.`,
  '',
  '| subscribe → first frame | median | p90 | max |',
  '|---|---|---|---|',
  ...Object.entries(times).map(([k, v]) => `| ${k} | ${pct(v, 0.5).toFixed(0)} ms | ${pct(v, 0.9).toFixed(0)} ms | ${Math.max(...v).toFixed(0)} ms |`),
].join('\n');
mkdirSync('bench/out', { recursive: true });
writeFileSync('bench/out/first-frame.md', md + '\n');
console.log(md);
