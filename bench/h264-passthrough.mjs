#!/usr/bin/env node
// One 720p30 H.264 RTSP camera to 100 subscribers, three ways on the same
// camera by turns: codec=h264 (the camera's own access units, passed
// through: nothing decoded, nothing encoded), codec=vp8 and codec=jpeg (the
// camera decoded, each frame encoded once and shared). Then the join time,
// subscribe -> first frame, of one more subscriber joining the running 100,
// for each codec: with h264 it waits for the camera's next IDR access unit
// (framecast cannot ask a camera for one), VP8 forces a key frame (at most
// one a second), JPEG gets the newest frame encoded at once.
//
//   node bench/h264-passthrough.mjs [--rounds 3] [--seconds 10] [--subscribers 100] [--joins 10] [--gop 60]
//                                   [--codecs h264,vp8,jpeg] [--compare OTHER/framecast] [--floor 1]
//
// --compare: every scenario of a round runs with this build and then with
// the other binary (an old build, say), on the same camera; each table row
// names its binary.
//
// --floor 1 (with h264 among the codecs): each round also runs
// build/bench/send-floor, a bare send() loop writing messages of the size the
// h264 subscribers got to as many loopback sockets at 30 fps: the kernel's
// cost for passthrough's fan-out alone, without receiving the camera.
//
// The camera is tests/lib/rtsp_server.py (GStreamer, x264 at 2.5 Mbit/s, a
// key frame every --gop frames, SMPTE bars scrolling 4 px a frame).
// Subscribers are lean node ws clients in this process, counting frames and
// bytes. framecast's CPU is its process CPU clock from its own /metrics
// over the window after a 3 s warm-up; the source's decoded-frame counter
// over the same window shows what was decoded. Writes
// bench/out/h264-passthrough.md and prints it.
import { mkdirSync, writeFileSync } from 'node:fs';
import WebSocket from 'ws';
import { BIN, Server, sleep, until } from '../tests/lib/server.mjs';
import { Camera } from '../tests/lib/camera.mjs';
import { sendFloor, wireBytes } from './floor.mjs';
import { LOAD_AT_START, machine, parseOptions } from './options.mjs';

const opt = parseOptions('h264-passthrough', { rounds: 3, seconds: 10, subscribers: 100, joins: 10, gop: 60, codecs: 'h264,vp8,jpeg', compare: '', floor: 0 });
const CODECS = opt.codecs.split(',');
// Binaries by label: this build (FRAMECAST_BIN, else build/framecast), and the other one.
const BINS = opt.compare ? { this: BIN, other: opt.compare } : { this: BIN };

function subscriber(url, counts) {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  ws.on('message', (data, isBinary) => {
    if (!isBinary || !counts.on) return;
    counts.frames++;
    counts.bytes += data.length;
  });
  ws.on('error', () => {});
  return ws;
}

// Milliseconds from opening a WebSocket (handshake included) to its first frame.
function firstFrame(url) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const ws = new WebSocket(url, { perMessageDeflate: false });
    const timer = setTimeout(() => { ws.terminate(); reject(new Error(`no frame from ${url} in 20 s`)); }, 20000);
    ws.on('message', (data, isBinary) => {
      if (!isBinary) return;
      clearTimeout(timer);
      resolve(Number(process.hrtime.bigint() - t0) / 1e6);
      ws.terminate();
    });
    ws.on('error', reject);
  });
}

async function scenario(url, codec, bin) {
  const srv = await new Server(['--synthetic', '0', '--source', `${url},id=cam`], { bin }).start();
  const counts = { on: false, frames: 0, bytes: 0 };
  const sockets = [];
  try {
    for (let i = 0; i < opt.subscribers; i++) sockets.push(subscriber(`${srv.ws}/ws/streams/cam?codec=${codec}`, counts));
    await until(async () => (await srv.json('/api/streams/cam')).subscribers === opt.subscribers,
      { timeoutMs: 20000, what: `${opt.subscribers} subscribers` });
    await sleep(3000);
    const decoded = () => srv.metric('fc_source_frames_decoded_total', { stream: 'cam' });
    const cpu0 = await srv.metric('fc_process_cpu_seconds_total'), d0 = await decoded();
    const t0 = process.hrtime.bigint();
    counts.on = true;
    await sleep(opt.seconds * 1000);
    counts.on = false;
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = (await srv.metric('fc_process_cpu_seconds_total')) - cpu0, dec = (await decoded()) - d0;
    const joins = [];
    for (let j = 0; j < opt.joins; j++) {
      // At a random point of the camera's GOP.
      await sleep(Math.random() * 1000 * opt.gop / 30);
      joins.push(await firstFrame(`${srv.ws}/ws/streams/cam?codec=${codec}`));
    }
    return { cores: cpu / wall, fps: counts.frames / wall / opt.subscribers,
      bytesPerFrame: counts.frames ? counts.bytes / counts.frames : 0, decodedFps: dec / wall, joins };
  } finally {
    for (const ws of sockets) ws.terminate();
    await srv.stop();
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const cam = await Camera.start(['--size', '1280x720', '--fps', '30', '--gop', String(opt.gop), '--bitrate', '2500',
  '--pattern', 'smpte', '--speed', '4']);
const KEYS = CODECS.flatMap((c) => Object.keys(BINS).map((b) => ({ c, b, key: `${c}:${b}` })));
const res = Object.fromEntries(KEYS.map(({ key }) => [key, []]));
const floors = [];
const floor = (bytes) => sendFloor({ subscribers: opt.subscribers, bytes, seconds: opt.seconds });
try {
  for (let r = 1; r <= opt.rounds; r++) {
    for (const { c, b, key } of KEYS) res[key].push(await scenario(cam.url, c, BINS[b]));
    const h264 = res['h264:this']?.at(-1);
    if (opt.floor && h264) floors.push(floor(wireBytes(h264.bytesPerFrame)));
    console.error(`round ${r}: ` + KEYS.map(({ key }) => `${key} ${(res[key].at(-1).cores * 100).toFixed(1)} %`).join(', '));
  }
} finally {
  await cam.stop();
}

const row = ({ c, b, key }) => {
  const rs = res[key], m = median(rs.map((x) => x.cores));
  const r = rs.find((x) => x.cores === m);
  const joins = rs.flatMap((x) => x.joins);
  return `| ${opt.compare ? `${c} (${BINS[b]})` : c} | ${(m * 100).toFixed(1)} % | ${rs.map((x) => (x.cores * 100).toFixed(1)).join(', ')} | ` +
    `${r.fps.toFixed(1)} | ${(r.bytesPerFrame / 1024).toFixed(1)} KB | ${r.decodedFps.toFixed(1)} | ` +
    `${median(joins).toFixed(0)} ms | ${Math.max(...joins).toFixed(0)} ms |`;
};
const md = [
  `CPU: ${machine()}, load average ${LOAD_AT_START.toFixed(2)} before the run; ` +
  `${new Date().toISOString().slice(0, 10)}; ${opt.rounds} rounds of ${opt.seconds} s by turns, medians; ` +
  `camera 1280x720 at 30 fps, 2.5 Mbit/s, a key frame every ${opt.gop} frames; ${opt.joins} joins a round.`,
  '',
  `| ${opt.subscribers} subscribers, codec= | framecast CPU (% of a core) | per round | fps received per subscriber | bytes per frame | frames decoded per s | join: median | join: max |`,
  '|---|---|---|---|---|---|---|---|',
  ...KEYS.map(row),
  ...(floors.length ? [`| floor: a bare send() of the h264 subscribers' messages (${floors[0].bytes} bytes), no camera | ` +
    `${median(floors.map((f) => f.cpu_percent)).toFixed(1)} % | ${floors.map((f) => f.cpu_percent.toFixed(1)).join(', ')} | ` +
    `${median(floors.map((f) => f.messages / f.seconds / f.subscribers)).toFixed(1)} | | | | |`] : []),
].join('\n');
mkdirSync('bench/out', { recursive: true });
writeFileSync('bench/out/h264-passthrough.md', md + '\n');
console.log(md);
