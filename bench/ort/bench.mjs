// Usage: node bench.mjs MODEL INPUT.ppm RUNS
// Single-thread onnxruntime inference latency on the same input framecast
// uses; prints one JSON line {runs, inference_ms: {median, p99}}.
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
const ms = [];
for (let i = 0; i < runs; i++) {
  const t0 = process.hrtime.bigint();
  await session.run(feeds);
  ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
}
ms.sort((a, b) => a - b);
const pct = (p) => ms[Math.min(ms.length - 1, Math.max(0, Math.ceil((p / 100) * ms.length) - 1))];
console.log(JSON.stringify({ runs, inference_ms: { median: pct(50), p99: pct(99) } }));
