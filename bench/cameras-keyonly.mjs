#!/usr/bin/env node
// 16 cameras whose only consumer is face detection at 2 Hz: the server's CPU
// when they decode every frame against key frames only, and what decoding
// key frames only does to detection (inferences per second, faces found, how
// long a track keeps its id), by turns in one run.
//
//   node bench/cameras-keyonly.mjs [--cameras 16] [--rounds 2] [--seconds 20] [--gop 2]
//
// The cameras are files (a 720p30 H.264 recording of the face fixture moving
// across the picture, a key frame every --gop seconds, made with Debian's
// ffmpeg at start), looped: 16 live RTSP cameras on this machine would cost
// more to encode than framecast to decode. Three configurations:
//   every frame      --detect-key-frames never
//   key frames only  --detect-key-frames always
//   key frames only, --track-expiry 2.5 × GOP  (tracks kept across the gaps)
// Nobody watches: the server's CPU is all decode and detection. Detection is
// read from /api/streams every 250 ms (the tracks and their ids). Writes
// bench/out/cameras-keyonly.md and prints it.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Server, FIXTURES, sleep } from '../tests/lib/server.mjs';
import { LOAD_AT_START, machine, parseOptions } from './options.mjs';

const opt = parseOptions('cameras-keyonly', { cameras: 16, rounds: 2, seconds: 20, gop: 2 });

const dir = mkdtempSync(join(tmpdir(), 'fc-keyonly-'));
const video = join(dir, 'face-720p.mp4');
// The face goes left and right at 55 px/s (a quarter of its width a second)
// and is back where it started after 24.7 s, so the loop is seamless and a
// change of track id is the tracker's doing, never a jump in the video.
execFileSync('ffmpeg', ['-nostdin', '-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i',
  'color=c=0x606060:size=1280x720:rate=30', '-loop', '1', '-i', `${FIXTURES}face-astronaut.png`,
  '-filter_complex', "[1]crop=240:240:140:40,scale=560:-2[f];[0][f]overlay=x='20+abs(mod(t*55+680,1360)-680)':y=80:shortest=1",
  '-t', String(1360 / 55), '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p', '-b:v', '2500k',
  '-g', String(30 * opt.gop), '-keyint_min', String(30 * opt.gop), '-sc_threshold', '0', '-bf', '0',
  '-movflags', '+faststart', video]);

const configs = [
  { name: 'every frame', args: ['--detect-key-frames', 'never'] },
  { name: 'key frames only', args: ['--detect-key-frames', 'always'] },
  { name: `key frames only, --track-expiry ${2.5 * opt.gop}`, args: ['--detect-key-frames', 'always', '--track-expiry', String(2.5 * opt.gop)] },
];

async function measure(cfg) {
  const args = ['--synthetic', '0', '--detect-fps', '2', ...cfg.args];
  for (let i = 0; i < opt.cameras; i++) args.push('--source', `file:${video},loop,id=c${i},detect`);
  const srv = await new Server(args).start();
  try {
    await sleep(4000);
    const sum = async (name) => srv.metric(name);
    const cpu0 = await sum('fc_process_cpu_seconds_total');
    const dec0 = await sum('fc_source_decode_cpu_seconds_total'), det0 = await sum('fc_detect_cpu_seconds_total');
    const inf0 = await sum('fc_detect_inferences_total'), faces0 = await sum('fc_detect_inferences_with_faces_total');
    const t0 = process.hrtime.bigint();
    // Per stream: the ids of the face it tracks, and when each was seen.
    const seen = new Map();
    let polls = 0, tracked = 0;
    while (Number(process.hrtime.bigint() - t0) / 1e9 < opt.seconds) {
      const now = Number(process.hrtime.bigint() - t0) / 1e9;
      for (const s of await srv.json('/api/streams')) {
        polls++;
        if (s.detection.faces.length) tracked++;
        for (const f of s.detection.faces) {
          const key = `${s.id}/${f.id}`;
          const t = seen.get(key) || { first: now, last: now };
          t.last = now;
          seen.set(key, t);
        }
      }
      await sleep(250);
    }
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    const lifetimes = [...seen.values()].map((t) => t.last - t.first);
    return {
      cores: ((await sum('fc_process_cpu_seconds_total')) - cpu0) / wall,
      decode_cores: ((await sum('fc_source_decode_cpu_seconds_total')) - dec0) / wall,
      detect_cores: ((await sum('fc_detect_cpu_seconds_total')) - det0) / wall,
      inferences_per_s: ((await sum('fc_detect_inferences_total')) - inf0) / wall,
      with_faces_per_s: ((await sum('fc_detect_inferences_with_faces_total')) - faces0) / wall,
      tracked_share: tracked / polls,
      ids_per_camera: seen.size / opt.cameras,
      mean_track_s: lifetimes.reduce((a, b) => a + b, 0) / Math.max(1, lifetimes.length),
    };
  } finally {
    await srv.stop();
  }
}

const results = configs.map(() => []);
try {
  for (let r = 1; r <= opt.rounds; r++)
    for (const [i, cfg] of configs.entries()) {
      results[i].push(await measure(cfg));
      const x = results[i].at(-1);
      console.error(`round ${r}, ${cfg.name}: ${x.cores.toFixed(3)} cores, ${x.inferences_per_s.toFixed(1)} inferences/s, ` +
        `${x.ids_per_camera.toFixed(1)} track ids per camera`);
    }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const med = (i, k) => median(results[i].map((x) => x[k]));
const base = med(0, 'cores');
const rows = configs.map((c, i) => `| ${c.name} | ${med(i, 'cores').toFixed(3)} | ${(med(i, 'cores') / base).toFixed(2)} | ` +
  `${med(i, 'decode_cores').toFixed(3)} | ${med(i, 'detect_cores').toFixed(3)} | ${med(i, 'inferences_per_s').toFixed(1)} | ` +
  `${med(i, 'with_faces_per_s').toFixed(1)} | ${(med(i, 'tracked_share') * 100).toFixed(0)} % | ` +
  `${med(i, 'ids_per_camera').toFixed(1)} | ${med(i, 'mean_track_s').toFixed(1)} s |`);
const md = [
  `CPU: ${machine()}, load average ${LOAD_AT_START.toFixed(2)} before the run; ${new Date().toISOString().slice(0, 10)}; ` +
  `${opt.cameras} looped 720p30 H.264 files, a key frame every ${opt.gop} s, detection at 2 Hz and no viewer; ` +
  `${opt.rounds} rounds of ${opt.seconds} s by turns, medians. The face moves a quarter of its width a second.`,
  '',
  '| decoding | server CPU (cores) | × every frame | decode CPU | detection CPU | inferences/s (all cameras) | with a face /s | polls with the face tracked | track ids per camera in the window (1 = one unbroken track) | mean track life |',
  '|---|---|---|---|---|---|---|---|---|---|',
  ...rows,
].join('\n');
mkdirSync('bench/out', { recursive: true });
writeFileSync('bench/out/cameras-keyonly.md', md + '\n');
console.log(md);
