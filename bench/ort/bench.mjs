// Usage: node bench.mjs MODEL INPUT.ppm RUNS
// Single-thread onnxruntime inference latency on the same input framecast
// uses; prints one JSON line {runs, inference_ms: {median, p99}, cpu_ms:
// {median, p99}}: wall time, and the process's CPU time per run (what a run
// costs even when a busy machine makes it wait for a core).
import { readPpm, inputTensor, openSession } from './common.mjs';

const [model, ppmPath, runsArg] = process.argv.slice(2);
const runs = Number(runsArg);
if (!model || !ppmPath || !(runs > 0)) {
  console.error('usage: node bench.mjs MODEL INPUT.ppm RUNS');
  process.exit(2);
}
const session = await openSession(model);
const feeds = { [session.inputNames[0]]: inputTensor(readPpm(ppmPath)) };
for (let i = 0; i < 10; i++) await session.run(feeds); // warm-up, as framecast's bench
const ms = [], cpu = [];
for (let i = 0; i < runs; i++) {
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await session.run(feeds);
  ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  const c = process.cpuUsage(c0);
  cpu.push((c.user + c.system) / 1e3);
}
const pct = (v, p) => {
  const s = [...v].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
};
console.log(JSON.stringify({ runs, inference_ms: { median: pct(ms, 50), p99: pct(ms, 99) },
  cpu_ms: { median: pct(cpu, 50), p99: pct(cpu, 99) } }));
