#!/usr/bin/env node
// One 720p30 H.264 RTSP camera turned into JPEG for one subscriber: framecast's
// total CPU against, on the same camera in the same run, Debian's
// `ffmpeg -rtsp_transport tcp -i URL -f mjpeg -q:v 3 -` and the floor
// (build/bench/decode-floor: libavformat + libavcodec on one thread +
// libturbojpeg q85, one thread, nothing else), by turns.
//
//   node bench/camera-jpeg.mjs [--rounds 3] [--seconds 10] [--compare BIN]
//
// --compare BIN also runs another framecast build (e.g. one before a change)
// in every round, beside this one: an A/B on the same camera by turns.
// The camera is tests/lib/rtsp_server.py (GStreamer, x264 at 2.5 Mbit/s, 2 s
// GOP, SMPTE bars scrolling 4 px a frame so decoding costs what a camera's
// does). framecast serves it as a stream with one lean WebSocket subscriber
// (node's ws, payloads counted); its CPU is its process CPU clock from its
// own /metrics over the window after a 3 s warm-up, with the share of each
// thread role. ffmpeg's CPU is its user + system time. Writes
// bench/out/camera-jpeg.md and prints it.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import WebSocket from 'ws';
import { Server, sleep } from '../tests/lib/server.mjs';
import { Camera } from '../tests/lib/camera.mjs';
import { LOAD_AT_START, machine, parseOptions } from './options.mjs';

const opt = parseOptions('camera-jpeg', { rounds: 3, seconds: 10, compare: '' });
const BUILD = process.env.BUILD || 'build';
const FLOOR = `${BUILD}/bench/decode-floor`;
const ROLES = ['loop', 'source', 'encode', 'worker_overhead'];

function run(cmd, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    child.on('exit', (code) => (code === 0 ? resolve({ out, err }) : reject(new Error(`${cmd} exited ${code}: ${err}`))));
  });
}

async function framecast(url, bin) {
  const srv = await new Server(['--synthetic', '0', '--source', `${url},id=cam`], bin ? { bin } : {}).start();
  let frames = 0, counting = false;
  const ws = new WebSocket(`${srv.ws}/ws/streams/cam`, { perMessageDeflate: false });
  ws.on('message', (data, isBinary) => { if (isBinary && counting) frames++; });
  try {
    await sleep(3000);
    const role = async () => Object.fromEntries(await Promise.all(ROLES.map(async (r) => [r, await srv.metric('fc_cpu_seconds_total', { role: r })])));
    const cpu0 = await srv.metric('fc_process_cpu_seconds_total'), r0 = await role();
    const t0 = process.hrtime.bigint();
    counting = true;
    await sleep(opt.seconds * 1000);
    counting = false;
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = (await srv.metric('fc_process_cpu_seconds_total')) - cpu0, r1 = await role();
    const roles = Object.fromEntries(ROLES.map((r) => [r, (r1[r] - r0[r]) / wall]));
    roles.demux_and_rest = cpu / wall - ROLES.reduce((a, r) => a + roles[r], 0);
    return { cores: cpu / wall, fps: frames / wall, roles };
  } finally {
    ws.terminate();
    await srv.stop();
  }
}

async function floor(url) {
  const j = JSON.parse((await run(FLOOR, [url, String(opt.seconds), '85'])).out);
  return { cores: j.cpu_s / j.wall_s, fps: j.frames / j.wall_s, detail: j };
}

async function ffmpeg(url) {
  const { err } = await run('/usr/bin/time', ['-f', 'FCTIME %U %S %e', 'ffmpeg', '-nostdin', '-hide_banner',
    '-loglevel', 'error', '-rtsp_transport', 'tcp', '-i', url, '-t', String(opt.seconds), '-f', 'mjpeg',
    '-q:v', '3', '-y', '/dev/null']);
  const [u, s, e] = /FCTIME (\S+) (\S+) (\S+)/.exec(err).slice(1).map(Number);
  return { cores: (u + s) / e };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const cam = await Camera.start(['--size', '1280x720', '--fps', '30', '--gop', '60', '--bitrate', '2500',
  '--pattern', 'smpte', '--speed', '4']);
const res = { framecast: [], floor: [], ffmpeg: [], ...(opt.compare ? { compared: [] } : {}) };
try {
  for (let r = 1; r <= opt.rounds; r++) {
    res.framecast.push(await framecast(cam.url));
    if (opt.compare) res.compared.push(await framecast(cam.url, opt.compare));
    res.floor.push(await floor(cam.url));
    res.ffmpeg.push(await ffmpeg(cam.url));
    const last = (k) => res[k].at(-1).cores.toFixed(3);
    console.error(`round ${r}: framecast ${last('framecast')} cores, ${opt.compare ? `${opt.compare} ${last('compared')}, ` : ''}` +
      `floor ${last('floor')}, ffmpeg ${last('ffmpeg')}`);
  }
} finally {
  await cam.stop();
}

const m = Object.fromEntries(Object.entries(res).map(([k, v]) => [k, median(v.map((x) => x.cores))]));
// The framecast round whose total is the median, for its roles.
const fr = res.framecast.find((x) => x.cores === m.framecast);
const ratios = res.framecast.map((x, i) => x.cores / res.floor[i].cores);
const pct = (x) => `${(x * 100).toFixed(1)} %`;
const md = [
  `CPU: ${machine()}, load average ${LOAD_AT_START.toFixed(2)} before the run; ` +
  `${new Date().toISOString().slice(0, 10)}; ${opt.rounds} rounds of ${opt.seconds} s by turns, medians.`,
  '',
  '| 720p30 RTSP camera to JPEG (one consumer) | CPU (cores) | × floor |',
  '|---|---|---|',
  `| floor: decode (1 thread) + libturbojpeg q85, one thread, nothing sent | ${m.floor.toFixed(3)} | 1.00 |`,
  `| framecast: a stream with one WebSocket subscriber (${fr.fps.toFixed(1)} fps received) | ${m.framecast.toFixed(3)} | ${(m.framecast / m.floor).toFixed(2)} |`,
  ...(opt.compare ? [`| framecast as built in ${opt.compare} | ${m.compared.toFixed(3)} | ${(m.compared / m.floor).toFixed(2)} |`] : []),
  `| \`ffmpeg -rtsp_transport tcp -i URL -f mjpeg -q:v 3 -\` | ${m.ffmpeg.toFixed(3)} | ${(m.ffmpeg / m.floor).toFixed(2)} |`,
  '',
  `framecast ÷ floor per round: ${ratios.map((x) => x.toFixed(2)).join(', ')}.`,
  ...(opt.compare ? [`framecast ÷ ${opt.compare} per round: ${res.framecast.map((x, i) => (x.cores / res.compared[i].cores).toFixed(2)).join(', ')}.`] : []),
  `framecast's CPU by thread role (the median round): ` +
  Object.entries(fr.roles).map(([k, v]) => `${k} ${pct(v)}`).join(', ') + ' of a core.',
  `Floor per frame: decode ${res.floor.at(-1).detail.decode_us_per_frame} µs, JPEG ${res.floor.at(-1).detail.jpeg_us_per_frame} µs.`,
].join('\n');
mkdirSync('bench/out', { recursive: true });
writeFileSync('bench/out/camera-jpeg.md', md + '\n');
console.log(md);
