#!/usr/bin/env node
// Two framecast binaries side by side on the fan-out (bench/fanout-ws.mjs):
// one 720p30 procedural stream to N subscribers, JPEG q85 and VP8 on the
// high tier, every (N, codec) run with binary A and binary B in turn (the
// order flips at every run), so the shared machine's other load falls on both
// alike. For a change to the transport: A is the old build, B the new one.
//
//   node bench/fanout-ab.mjs --a OLD/framecast --b NEW/framecast [--counts 1,100,200] [--seconds 10]
//
// Per run: server CPU (total, loop thread), fps per subscriber, bytes per
// frame, loop CPU per delivered frame. Then, per binary and codec, what one
// more subscriber costs: the loop thread's CPU per delivered frame (the
// fan-out; the workers' render and encode are paid once per frame whoever
// watches), averaged over the runs with N > 1 where every subscriber got at
// least 90 % of the frames, as in bench/codec-fanout; VP8's over JPEG's; and
// from which N VP8's total server CPU is below JPEG's (the workers' CPU at
// the largest such N, per codec). Prints Markdown and writes it with the raw
// runs to bench/out/.
import { mkdirSync, writeFileSync } from 'node:fs';
import { fanout } from './fanout-ws.mjs';
import { LOAD_AT_START, machine, parseOptions } from './options.mjs';

const opt = parseOptions('fanout-ab', { a: '', b: '', counts: '1,100,200', seconds: 10 });
if (!opt.a || !opt.b) {
  console.error('fanout-ab: --a and --b name the two binaries');
  process.exit(2);
}
const counts = opt.counts.split(',').map(Number);
const bins = { A: opt.a, B: opt.b };
const CODECS = ['jpeg', 'vp8'];

const runs = [];
let flip = false;
for (const n of counts) {
  for (const codec of CODECS) {
    for (const label of flip ? ['B', 'A'] : ['A', 'B']) {
      process.stderr.write(`fanout-ab: ${label} ${codec}, ${n} subscribers\n`);
      const r = await fanout({ subscribers: n, seconds: opt.seconds, codec, quality: 'high', bin: bins[label] });
      runs.push({ bin: label, ...r });
    }
    flip = !flip;
  }
}

const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const of = (bin, codec) => runs.filter((r) => r.bin === bin && r.codec === codec);
const fullRate = (r) => r.fps_per_subscriber_min >= 0.9 * r.fps;
function marginal(bin, codec) {
  const rs = of(bin, codec).filter((r) => r.subscribers > 1 && fullRate(r));
  const top = rs.at(-1) ?? of(bin, codec).at(-1);
  const us = rs.length ? mean(rs.map((r) => r.loop_cpu_us_per_delivered_frame)) : NaN;
  return { us, from: rs.map((r) => r.subscribers), perSub: (us * top.fps) / 1e4,
    stream: top.server_cpu_percent - top.loop_cpu_percent };
}
const m = Object.fromEntries(Object.keys(bins).map((b) =>
  [b, Object.fromEntries(CODECS.map((c) => [c, marginal(b, c)]))]));

const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : '–');
const md = [
  `${machine()}, load average ${LOAD_AT_START.toFixed(2)} before the run; ` +
  `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC; A = ${opt.a}, B = ${opt.b}; ` +
  `${opt.seconds} s windows after 3 s of warm-up, A and B by turns.`,
  '',
  '| binary | codec | subscribers | server CPU % | of which loop % | fps per subscriber min / median | bytes/frame | loop µs per delivered frame |',
  '|---|---|---|---|---|---|---|---|',
  ...runs.map((r) => `| ${r.bin} | ${r.codec} | ${r.subscribers} | ${f1(r.server_cpu_percent)} | ` +
    `${f1(r.loop_cpu_percent)} | ${f1(r.fps_per_subscriber_min)} / ${f1(r.fps_per_subscriber_median)} | ` +
    `${Math.round(r.bytes_per_frame)} | ${f1(r.loop_cpu_us_per_delivered_frame)} |`),
  '',
  '| binary | one more subscriber, loop µs per delivered frame: JPEG | VP8 | VP8 / JPEG | % of a core per subscriber: JPEG / VP8 | VP8 below JPEG in total CPU from N ≈ |',
  '|---|---|---|---|---|---|',
  ...Object.keys(bins).map((b) => {
    const j = m[b].jpeg, v = m[b].vp8;
    const cross = (v.stream - j.stream) / (j.perSub - v.perSub);
    return `| ${b} | ${f1(j.us)} (N = ${j.from.join(', ')}) | ${f1(v.us)} (N = ${v.from.join(', ')}) | ` +
      `${(v.us / j.us).toFixed(2)} | ${j.perSub.toFixed(3)} / ${v.perSub.toFixed(3)} | ` +
      `${cross > 0 ? Math.round(cross) : 'never'} |`;
  }),
  '',
  `B against A, loop µs per delivered frame: JPEG ${(m.B.jpeg.us / m.A.jpeg.us).toFixed(2)} ×, ` +
  `VP8 ${(m.B.vp8.us / m.A.vp8.us).toFixed(2)} ×.`,
].join('\n');
mkdirSync('bench/out', { recursive: true });
writeFileSync('bench/out/fanout-ab.md', md + '\n');
writeFileSync('bench/out/fanout-ab.json', JSON.stringify(runs, null, 1) + '\n');
console.log(md);
