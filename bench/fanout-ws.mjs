#!/usr/bin/env node
// One stream to many subscribers, received by a lean client: node's `ws`
// (one process, payloads counted, not parsed). framecast's own load client
// is built on libwebsockets, whose 4.1 client parses every byte one at a time
// and saturates a core at ~150-200 MB/s: at 200 subscribers of a 720p30
// stream it measures itself, not the server. This measures the server.
//
//   node bench/fanout-ws.mjs [--subscribers 200] [--seconds 10] [--size 1280x720] [--fps 30]
//                            [--codec jpeg] [--quality auto] [--server-args "..."]
//                            [--bin path/to/framecast]   (default: FRAMECAST_BIN, else build/framecast)
//
// Prints one JSON object: per-subscriber fps (min, median), the server's CPU
// (from its own /metrics) in % of one core and per delivered frame, in total
// and on the loop thread (the fan-out), bytes per
// delivered frame, the stream's encodes per second and mean encode ms (CPU of
// one encode, from the server's histogram for the codec), and this client's
// CPU, over the window after a 3 s warm-up. bench/codec-fanout imports
// fanout() for its JPEG/VP8 sweep.
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { Server, metricIn, sleep } from '../tests/lib/server.mjs';
import { parseOptions } from './options.mjs';

export const DEFAULTS = { subscribers: 200, seconds: 10, size: '1280x720', fps: 30, codec: 'jpeg',
  quality: 'auto', 'server-args': '', bin: '' };

// The p99 of a histogram over the window: the upper bound of the bucket
// the 99th percent of the window's observations falls in (null: none).
function p99(b0, b1, name, labels = {}) {
  const rows = [];
  for (const line of b1.split('\n')) {
    const m = new RegExp(`^${name}_bucket\\{(.*)le="([^"]+)"\\} (\\S+)$`).exec(line);
    if (!m || !Object.entries(labels).every(([k, v]) => m[1].includes(`${k}="${v}"`))) continue;
    const le = m[2];
    const before = metricIn(b0, `${name}_bucket`, { ...labels, le });
    rows.push({ le: le === '+Inf' ? Infinity : Number(le), n: Number(m[3]) - before });
  }
  const total = rows.length ? rows.at(-1).n : 0;
  if (!total) return null;
  return rows.find((r) => r.n >= 0.99 * total).le;
}

// --loops: each loop's CPU (% of a core) and lag p99 over the window: the
// first loop's from its frame timers (fc_loop_lag_milliseconds), another's
// from how long handed-over frames waited for it.
function perLoop(b0, b1, dt) {
  const n = metricIn(b1, 'fc_loops');
  const loops = [];
  for (let i = 0; i < n; i++) {
    const l = { loop: i };
    l.cpu_percent = (100 * (metricIn(b1, 'fc_loop_cpu_seconds_total', { loop: i }) -
      metricIn(b0, 'fc_loop_cpu_seconds_total', { loop: i }))) / dt;
    l.lag_p99_ms = i === 0 ? p99(b0, b1, 'fc_loop_lag_milliseconds')
      : p99(b0, b1, 'fc_loop_handoff_lag_milliseconds', { loop: i });
    // Counted by the router, which only --loops > 1 has.
    l.viewers = n > 1 ? metricIn(b1, 'fc_loop_viewers', { loop: i }) : null;
    loops.push(l);
  }
  return { loops };
}

export async function fanout(options) {
  const opt = { ...DEFAULTS, ...options };
  const extra = opt['server-args'] ? opt['server-args'].split(/\s+/) : [];
  const srv = await new Server(['--synthetic', '1', '--size', opt.size, '--fps', String(opt.fps),
    '--max-clients', String(opt.subscribers + 16), ...extra], opt.bin ? { bin: opt.bin } : {}).start();
  const counts = new Array(opt.subscribers).fill(0);
  let counting = false, errors = 0, bytes = 0;
  const url = `${srv.ws}/ws/streams/cam0?codec=${opt.codec}&quality=${opt.quality}`;
  const socks = counts.map((_, i) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.on('message', (data, isBinary) => {
      if (!isBinary || !counting) return;
      if (data.readUInt32BE(12) !== data.length - 16) errors++;
      counts[i]++;
      bytes += data.length - 16;
    });
    ws.on('error', () => errors++);
    return ws;
  });
  // One scrape per end of the window. A server busy writing to hundreds of
  // sockets can be slow to answer it, or drop the connection: try again.
  const scrape = async () => {
    for (let attempt = 1; ; attempt++) {
      try {
        const { body } = await srv.text('/metrics');
        const codec = { stream: 'cam0', codec: opt.codec };
        return { body, cpu: metricIn(body, 'fc_process_cpu_seconds_total'),
          loop: metricIn(body, 'fc_cpu_seconds_total', { role: 'loop' }),
          sum: metricIn(body, 'fc_encode_milliseconds_sum', codec),
          count: metricIn(body, 'fc_encode_milliseconds_count', codec) };
      } catch (e) {
        if (attempt === 3) throw e;
      }
    }
  };
  try {
    await sleep(3000);
    const m0 = await scrape();
    const me0 = process.cpuUsage(), t0 = process.hrtime.bigint();
    counting = true;
    await sleep(opt.seconds * 1000);
    // The window ends where the second scrape's answer comes, as it began
    // where the first one's came: frames, CPU and time over the same span.
    const m1 = await scrape();
    counting = false;
    const dt = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = m1.cpu - m0.cpu;
    const enc0 = m0, enc1 = m1;
    const me = process.cpuUsage(me0);
    const fps = counts.map((c) => c / dt).sort((a, b) => a - b);
    const frames = counts.reduce((a, b) => a + b, 0);
    const encodes = enc1.count - enc0.count;
    return {
      subscribers: opt.subscribers, size: opt.size, fps: opt.fps, codec: opt.codec, quality: opt.quality,
      seconds: dt, fps_per_subscriber_min: fps[0], fps_per_subscriber_median: fps[Math.floor(fps.length / 2)],
      frames_delivered: frames, errors,
      bytes_per_frame: frames ? bytes / frames : 0,
      encodes_per_s: encodes / dt,
      encode_ms_mean: encodes ? (enc1.sum - enc0.sum) / encodes : 0,
      server_cpu_percent: (100 * cpu) / dt,
      server_cpu_us_per_delivered_frame: frames ? (1e6 * cpu) / frames : 0,
      // The loop thread writes every frame to every socket (the fan-out);
      // the workers render and encode, once per frame whoever watches.
      loop_cpu_percent: (100 * (m1.loop - m0.loop)) / dt,
      loop_cpu_us_per_delivered_frame: frames ? (1e6 * (m1.loop - m0.loop)) / frames : 0,
      client_cpu_percent: (100 * (me.user + me.system)) / 1e6 / dt,
      ...perLoop(m0.body, m1.body, dt),
    };
  } finally {
    socks.forEach((s) => s.terminate());
    await srv.stop();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const opt = parseOptions('fanout-ws', DEFAULTS);
  console.log(JSON.stringify(await fanout(opt)));
}
