#!/usr/bin/env node
// JPEG against VP8 in fan-out: one 720p30 stream to N subscribers, both
// codecs on the high tier (JPEG q85; VP8 at the ladder's high-tier bitrate,
// of equal or better quality: docs/benchmarks.md), N = 1 … 300, received by
// node's ws (bench/fanout-ws.mjs). The two codecs alternate at every N (JPEG
// first, then VP8 first at the next N), so the machine's other load falls on
// both alike.
//
//   node bench/codec-fanout.mjs [--counts 1,50,100,200,300] [--seconds 10]
//
// Per run: the server's CPU (in total and on the loop thread, which does the
// fan-out), per-subscriber fps, bytes per frame, server CPU per delivered
// frame, encodes per second and the mean encode's CPU. Then two estimates of
// what one more subscriber costs and where VP8's total falls below JPEG's:
//
//  - per codec, a least-squares line of total CPU against N (slope b,
//    intercept a); the lines cross at N = (a_vp8 − a_jpeg) / (b_jpeg − b_vp8);
//  - split by thread: the loop's CPU per delivered frame times the frame
//    rate is one subscriber's cost (m); the workers' CPU (render and encode,
//    the same whoever watches) is the stream's (e), from the largest N at
//    full rate; N = (e_vp8 − e_jpeg) / (m_jpeg − m_vp8). This one holds even
//    when a busy machine starves a run of frames, which bends the line.
// Prints Markdown (and writes it with the raw runs to bench/out/).
import { mkdirSync, writeFileSync } from 'node:fs';
import { fanout } from './fanout-ws.mjs';
import { LOAD_AT_START, machine, parseOptions } from './options.mjs';

const opt = parseOptions('codec-fanout', { counts: '1,50,100,200,300', seconds: 10 });
const counts = opt.counts.split(',').map(Number);
if (counts.length < 2 || counts.some((n) => !(n >= 1))) {
  console.error('codec-fanout: --counts needs two or more subscriber counts of at least 1');
  process.exit(2);
}

const runs = [];
for (const [i, n] of counts.entries()) {
  const order = i % 2 ? ['vp8', 'jpeg'] : ['jpeg', 'vp8'];
  for (const codec of order) {
    process.stderr.write(`codec-fanout: ${codec}, ${n} subscribers\n`);
    runs.push(await fanout({ subscribers: n, seconds: opt.seconds, codec, quality: 'high' }));
  }
}

function fit(points) {
  const n = points.length;
  const mx = points.reduce((s, p) => s + p.x, 0) / n, my = points.reduce((s, p) => s + p.y, 0) / n;
  const sxy = points.reduce((s, p) => s + (p.x - mx) * (p.y - my), 0);
  const sxx = points.reduce((s, p) => s + (p.x - mx) ** 2, 0);
  const b = sxy / sxx;
  return { a: my - b * mx, b };
}

const of = (codec) => runs.filter((r) => r.codec === codec);
const line = Object.fromEntries(['jpeg', 'vp8'].map((c) =>
  [c, fit(of(c).map((r) => ({ x: r.subscribers, y: r.server_cpu_percent })))]));
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const bytes = Object.fromEntries(['jpeg', 'vp8'].map((c) => [c, mean(of(c).map((r) => r.bytes_per_frame))]));
const cross = (line.vp8.a - line.jpeg.a) / (line.jpeg.b - line.vp8.b);
// Per-thread split, from the runs where every subscriber got at least 90 %
// of the frames.
const full = (codec) => of(codec).filter((r) => r.fps_per_subscriber_min >= 0.9 * r.fps);
const split = Object.fromEntries(['jpeg', 'vp8'].map((c) => {
  const rs = full(c).filter((r) => r.subscribers > 1);
  const top = rs.at(-1) ?? of(c).at(-1);
  return [c, {
    m: rs.length ? mean(rs.map((r) => r.loop_cpu_us_per_delivered_frame)) * top.fps / 1e4 : NaN,
    e: top.server_cpu_percent - top.loop_cpu_percent,
    from: rs.map((r) => r.subscribers),
  }];
}));
const crossSplit = (split.vp8.e - split.jpeg.e) / (split.jpeg.m - split.vp8.m);

const f = (x, d = 1) => Number(x).toFixed(d);
const out = [];
out.push(`Machine: ${machine()}, load average ${LOAD_AT_START.toFixed(2)} before the run; ` +
  `${new Date().toISOString().slice(0, 10)}; ${opt.seconds} s windows after 3 s of warm-up, one run per point.`);
out.push('');
out.push('| codec | subscribers | server CPU % | of which loop % | fps per subscriber min / median | bytes/frame | server CPU µs per delivered frame | loop µs per delivered frame | encodes/s | encode ms |');
out.push('|---|---|---|---|---|---|---|---|---|---|');
for (const r of runs)
  out.push(`| ${r.codec} | ${r.subscribers} | ${f(r.server_cpu_percent)} | ${f(r.loop_cpu_percent)} | ${f(r.fps_per_subscriber_min)} / ${f(r.fps_per_subscriber_median)} | ` +
    `${f(r.bytes_per_frame, 0)} | ${f(r.server_cpu_us_per_delivered_frame)} | ${f(r.loop_cpu_us_per_delivered_frame)} | ${f(r.encodes_per_s)} | ${f(r.encode_ms_mean, 2)} |`);
out.push('');
out.push('| figure | JPEG q85 | VP8 | VP8 / JPEG |');
out.push('|---|---|---|---|');
out.push(`| bytes per frame (mean of the runs) | ${f(bytes.jpeg, 0)} | ${f(bytes.vp8, 0)} | ${f(bytes.vp8 / bytes.jpeg, 3)} |`);
out.push(`| marginal server CPU per added subscriber, % of a core (slope) | ${f(line.jpeg.b, 4)} | ${f(line.vp8.b, 4)} | ${f(line.vp8.b / line.jpeg.b, 3)} |`);
out.push(`| server CPU before fan-out, % of a core (intercept) | ${f(line.jpeg.a)} | ${f(line.vp8.a)} | ${f(line.vp8.a / line.jpeg.a, 2)} |`);
out.push(`| subscribers from which VP8's total server CPU is below JPEG's (lines) | | | ${line.jpeg.b > line.vp8.b ? f(cross, 0) : 'never (VP8\'s slope is not smaller)'} |`);
out.push(`| one subscriber's cost: loop CPU per frame × fps, % of a core (runs at full rate: ${split.jpeg.from} / ${split.vp8.from}) | ${f(split.jpeg.m, 4)} | ${f(split.vp8.m, 4)} | ${f(split.vp8.m / split.jpeg.m, 3)} |`);
out.push(`| the stream's own cost: worker CPU (render, encode), % of a core | ${f(split.jpeg.e)} | ${f(split.vp8.e)} | ${f(split.vp8.e / split.jpeg.e, 2)} |`);
out.push(`| subscribers from which VP8's total server CPU is below JPEG's (split) | | | ${split.jpeg.m > split.vp8.m ? f(crossSplit, 0) : 'never'} |`);
const text = out.join('\n');
console.log(text);
mkdirSync('bench/out', { recursive: true });
writeFileSync('bench/out/codec-fanout.md', text + '\n');
writeFileSync('bench/out/codec-fanout.json', JSON.stringify({ runs, line, bytes, cross, split, crossSplit }, null, 1) + '\n');
