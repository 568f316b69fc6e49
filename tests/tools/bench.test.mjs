// `framecast bench`: a short run on loopback whose JSON carries the expected
// fields with non-zero values, the encode floor, and a one-round --compare.
// Sizes are small so the suite stays fast; no figure is asserted against a
// wall-clock target.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { BIN } from '../lib/server.mjs';

async function bench(args) {
  const proc = spawn(BIN, ['bench', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '', stderr = '';
  proc.stdout.on('data', (d) => { stdout += d; });
  proc.stderr.on('data', (d) => { stderr += d; });
  const [code] = await once(proc, 'exit');
  return { code, stdout, stderr };
}

const SMALL = ['--size', '320x240', '--frames', '5', '--seconds', '1', '--warmup', '0.3'];

test('bench --json reports CPU, fps, encode ms, RSS, latency and overhead', async () => {
  const r = await bench([...SMALL, '--cameras', '2', '--subscribers', '2', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout);
  assert.ok(doc.machine.cores > 0 && doc.machine.cpu && doc.machine.date);
  assert.equal(doc.config.cameras, 2);
  assert.equal(doc.config.subscribers, 2);
  assert.ok(doc.floor.tiers.high.ms_mean > 0);
  const res = doc.result;
  for (const k of ['window_s', 'cpu_percent', 'fps_in', 'encodes_per_s', 'fps_out', 'fps_sent',
    'fps_per_subscriber_min', 'fps_per_subscriber_median', 'encode_ms_p50', 'encode_ms_p99',
    'rss_mb', 'latency_ms_p50', 'latency_ms_p99', 'cpu_us_per_delivered_frame',
    'floor_cpu_percent', 'overhead_ratio', 'client_cpu_percent']) {
    assert.ok(typeof res[k] === 'number' && res[k] > 0, `${k} = ${res[k]}`);
  }
  assert.ok(res.cpu_percent_by_role.loop > 0);
  assert.ok(res.cpu_percent_by_role.encode > 0);
  assert.ok(res.cpu_percent_by_role.source > 0);
  assert.equal(res.clients, 4);
  assert.equal(res.failed, 0);
});

test('nobody watching: the bench still measures, and encodes nothing', async () => {
  const r = await bench([...SMALL, '--subscribers', '0', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const res = JSON.parse(r.stdout).result;
  assert.equal(res.encodes_per_s, 0);
  assert.equal(res.clients, 0);
  assert.ok(res.rss_mb > 0);
});

test('--encode-only measures the floor for each tier', async () => {
  const r = await bench(['--encode-only', '--size', '320x240', '--frames', '5', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout);
  for (const t of ['high', 'medium', 'low']) {
    assert.ok(doc.floor.tiers[t].ms_mean > 0 && doc.floor.tiers[t].bytes_mean > 0, t);
  }
  const text = await bench(['--encode-only', '--size', '320x240', '--frames', '5']);
  assert.match(text.stdout, /high\s+q85\s+mean/);
});

test('--compare runs A and B and reports ratios', async () => {
  const r = await bench([...SMALL, '--seconds', '0.5', '--compare', '--subscribers 1', '--subscribers 2',
    '--rounds', '1', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout);
  assert.equal(doc.config_a.subscribers, 1);
  assert.equal(doc.config_b.subscribers, 2);
  assert.equal(doc.per_round.length, 1);
  assert.ok(doc.median_a.fps_out > 0 && doc.median_b.fps_out > 0);
  assert.ok(doc.ratio_b_over_a.fps_out > 0);
});

test('bad options are usage errors', async () => {
  assert.equal((await bench(['--stall', '2', '--subscribers', '1'])).code, 2);
  assert.equal((await bench(['--compare', '--json', 'x'])).code, 2);
  assert.equal((await bench(['--cameras', '0'])).code, 2);
});
