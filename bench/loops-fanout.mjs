#!/usr/bin/env node
// --loops 1 against --loops 2 (issue 16 item 7): one 720p30 stream to 600
// subscribers (bench/fanout-ws.mjs: node ws clients in one process), the two
// settings run alternately in one invocation (A, B, A, B, ...) so that both
// see the same machine. Prints each run and the medians per setting:
// per-subscriber fps min / median, server CPU, each loop's CPU and lag p99.
//
//   node bench/loops-fanout.mjs [--subscribers 600] [--seconds 10] [--rounds 2]
import { fanout } from './fanout-ws.mjs';

const opt = { subscribers: 600, seconds: 10, rounds: 2 };
for (let i = 2; i < process.argv.length; i += 2) opt[process.argv[i].replace(/^--/, '')] = Number(process.argv[i + 1]);

const settings = ['--loops 1', '--loops 2'];
const runs = { '--loops 1': [], '--loops 2': [] };
for (let r = 0; r < opt.rounds; r++) {
  for (const args of settings) {
    const res = await fanout({ subscribers: opt.subscribers, seconds: opt.seconds, 'server-args': args });
    runs[args].push(res);
    console.log(JSON.stringify({ setting: args, ...res }));
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const args of settings) {
  const rs = runs[args];
  const summary = {
    setting: args,
    fps_min: median(rs.map((x) => x.fps_per_subscriber_min)),
    fps_median: median(rs.map((x) => x.fps_per_subscriber_median)),
    server_cpu_percent: median(rs.map((x) => x.server_cpu_percent)),
    loops: rs[0].loops.map((_, i) => ({
      loop: i,
      cpu_percent: median(rs.map((x) => x.loops[i].cpu_percent)),
      lag_p99_ms: median(rs.map((x) => x.loops[i].lag_p99_ms ?? 0)),
      viewers: rs.at(-1).loops[i].viewers,
    })),
  };
  console.log('median ' + JSON.stringify(summary));
}
