#!/usr/bin/env node
// One stream to many subscribers, received by a lean client: node's `ws`
// (one process, payloads counted, not parsed). framecast's own load client
// is built on libwebsockets, whose 4.1 client parses every byte one at a time
// and saturates a core at ~150-200 MB/s: at 200 subscribers of a 720p30
// stream it measures itself, not the server. This measures the server.
//
//   node bench/fanout-ws.mjs [--subscribers 200] [--seconds 10] [--size 1280x720] [--fps 30]
//
// Prints one JSON object: per-subscriber fps (min, median), the server's CPU
// (from its own /metrics) in % of one core and per delivered frame, and this
// client's CPU, over the window after a 3 s warm-up.
import WebSocket from 'ws';
import { Server, sleep } from '../tests/lib/server.mjs';

const opt = { subscribers: 200, seconds: 10, size: '1280x720', fps: 30 };
for (let i = 2; i < process.argv.length; i += 2) {
  const k = process.argv[i].replace(/^--/, ''), v = process.argv[i + 1];
  if (!(k in opt) || v === undefined) {
    console.error(`fanout-ws: unknown option ${process.argv[i]} (see the header of this file)`);
    process.exit(2);
  }
  opt[k] = typeof opt[k] === 'number' ? Number(v) : v;
}

const srv = await new Server(['--synthetic', '1', '--size', opt.size, '--fps', String(opt.fps),
  '--max-clients', String(opt.subscribers + 16)]).start();
const counts = new Array(opt.subscribers).fill(0);
let counting = false, errors = 0;
const socks = counts.map((_, i) => {
  const ws = new WebSocket(`${srv.ws}/ws/streams/cam0`, { perMessageDeflate: false });
  ws.on('message', (data, isBinary) => {
    if (!isBinary || !counting) return;
    if (data.readUInt32BE(12) !== data.length - 16) errors++;
    counts[i]++;
  });
  ws.on('error', () => errors++);
  return ws;
});
try {
  await sleep(3000);
  const cpu0 = await srv.metric('fc_process_cpu_seconds_total');
  const me0 = process.cpuUsage(), t0 = process.hrtime.bigint();
  counting = true;
  await sleep(opt.seconds * 1000);
  counting = false;
  const dt = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = (await srv.metric('fc_process_cpu_seconds_total')) - cpu0;
  const me = process.cpuUsage(me0);
  const fps = counts.map((c) => c / dt).sort((a, b) => a - b);
  const frames = counts.reduce((a, b) => a + b, 0);
  console.log(JSON.stringify({
    subscribers: opt.subscribers, size: opt.size, fps: opt.fps, seconds: dt,
    fps_per_subscriber_min: fps[0], fps_per_subscriber_median: fps[Math.floor(fps.length / 2)],
    frames_delivered: frames, errors,
    server_cpu_percent: (100 * cpu) / dt,
    server_cpu_us_per_delivered_frame: frames ? (1e6 * cpu) / frames : 0,
    client_cpu_percent: (100 * (me.user + me.system)) / 1e6 / dt,
  }));
} finally {
  socks.forEach((s) => s.terminate());
  await srv.stop();
}
