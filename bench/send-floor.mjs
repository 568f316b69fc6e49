#!/usr/bin/env node
// framecast's fan-out against the kernel's floor for the same messages, in
// one run (issue 14's marginal-cost goal: one more VP8 subscriber ≤ 0.3 × the
// CPU of one more JPEG subscriber).
//
//   node bench/send-floor.mjs [--counts 100,300] [--seconds 10] [--h264-bytes 9900]
//                             [--bin path/to/framecast]
//
// For each N and codec (JPEG q85, VP8 3500 kbps: the high tier, equal or
// better quality), by turns:
//   framecast  one 720p30 procedural stream to N subscribers on one loop
//              (bench/fanout-ws.mjs): the loop thread's CPU per delivered
//              frame is what one more subscriber costs;
//   send       build/bench/send-floor: one thread, one send() per message of
//              the same size (payload as measured + the 16-byte frame header
//              + the WebSocket header) to N loopback sockets at 30 fps;
//   uring      the same messages, each tick's in one io_uring submission.
// Then the floor for H.264 passthrough's fan-out: 100 subscribers of
// --h264-bytes a frame (9.9 KB: the test camera's access units).
// Prints Markdown and writes it with the raw runs to bench/out/.
import { mkdirSync, writeFileSync } from 'node:fs';
import { fanout } from './fanout-ws.mjs';
import { sendFloor, wireBytes } from './floor.mjs';
import { LOAD_AT_START, machine, parseOptions } from './options.mjs';

const opt = parseOptions('send-floor', { counts: '100,300', seconds: 10, 'h264-bytes': 9900, bin: '' });
const counts = opt.counts.split(',').map(Number);
const CODECS = ['jpeg', 'vp8'];

const floor = (mode, subscribers, bytes) => sendFloor({ mode, subscribers, bytes, seconds: opt.seconds });

const runs = [];
for (const n of counts) {
  for (const codec of CODECS) {
    process.stderr.write(`send-floor: framecast ${codec}, ${n} subscribers\n`);
    const r = await fanout({ subscribers: n, seconds: opt.seconds, codec, quality: 'high',
      'server-args': '--loops 1', bin: opt.bin });
    const bytes = wireBytes(r.bytes_per_frame);
    runs.push({ what: 'framecast', codec, subscribers: n, bytes, us: r.loop_cpu_us_per_delivered_frame,
      cpu_percent: r.loop_cpu_percent, fps_min: r.fps_per_subscriber_min, raw: r });
    for (const mode of ['send', 'uring']) {
      process.stderr.write(`send-floor: ${mode}, ${n} × ${bytes} bytes\n`);
      const f = floor(mode, n, bytes);
      runs.push({ what: mode, codec, subscribers: n, bytes, us: f.us_per_message,
        cpu_percent: f.cpu_percent, fps_min: f.messages / n / f.seconds, short: f.short, raw: f });
    }
  }
}
const h264 = ['send', 'uring'].map((mode) => floor(mode, 100, wireBytes(opt['h264-bytes'])));

const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const us = (what, codec) => mean(runs.filter((r) => r.what === what && r.codec === codec).map((r) => r.us));
const f1 = (x) => x.toFixed(1), f2 = (x) => x.toFixed(2);
const md = [
  `${machine()}; ` +
  `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC; load average ${LOAD_AT_START.toFixed(2)} before the run; ${opt.seconds} s windows; ` +
  `framecast on one loop, the floor on one thread.`,
  '',
  '| sender | codec | subscribers | bytes per message | CPU % of a core | µs per message | messages per s per subscriber (min) |',
  '|---|---|---|---|---|---|---|',
  ...runs.map((r) => `| ${r.what} | ${r.codec} | ${r.subscribers} | ${r.bytes} | ${f1(r.cpu_percent)} | ` +
    `${f1(r.us)} | ${f1(r.fps_min)} |`),
  '',
  '| sender | one more subscriber, µs per message: JPEG | VP8 | VP8 / JPEG (goal ≤ 0.3) |',
  '|---|---|---|---|',
  ...['framecast', 'send', 'uring'].map((w) =>
    `| ${w} | ${f1(us(w, 'jpeg'))} | ${f1(us(w, 'vp8'))} | ${f2(us(w, 'vp8') / us(w, 'jpeg'))} |`),
  '',
  `H.264 passthrough's fan-out at the floor, 100 subscribers × ${wireBytes(opt['h264-bytes'])} bytes at 30 fps: ` +
  h264.map((f) => `${f.mode} ${f2(f.cpu_percent)} % of a core (${f1(f.us_per_message)} µs a message)`).join(', ') + '.',
].join('\n');
mkdirSync('bench/out', { recursive: true });
writeFileSync('bench/out/send-floor.md', md + '\n');
writeFileSync('bench/out/send-floor.json', JSON.stringify({ runs, h264 }, null, 1) + '\n');
console.log(md);
