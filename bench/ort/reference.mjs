// Usage: node reference.mjs MODEL INPUT.ppm OUT_PREFIX
// Runs MODEL in onnxruntime on the PPM and writes OUT_PREFIX.f32 (every output,
// float32 little-endian, in the model's output order) and OUT_PREFIX.json
// (names and shapes) for framecast's correctness test.
import { readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import { readPpm, inputTensor, openSession } from './common.mjs';

const [model, ppmPath, prefix] = process.argv.slice(2);
if (!prefix) {
  console.error('usage: node reference.mjs MODEL INPUT.ppm OUT_PREFIX');
  process.exit(2);
}
const session = await openSession(model);
const result = await session.run({ [session.inputNames[0]]: inputTensor(readPpm(ppmPath)) });
const outputs = session.outputNames.map((name) => ({ name, shape: result[name].dims }));
const bytes = Buffer.concat(
  session.outputNames.map((n) => Buffer.from(result[n].data.buffer, result[n].data.byteOffset, result[n].data.byteLength)));
writeFileSync(`${prefix}.f32`, bytes);
const ortVersion = JSON.parse(readFileSync(new URL('./node_modules/onnxruntime-node/package.json', import.meta.url))).version;
writeFileSync(`${prefix}.json`, JSON.stringify({
  model: basename(model),
  model_sha256: createHash('sha256').update(readFileSync(model)).digest('hex'),
  input: basename(ppmPath),
  input_normalisation: 'rgb / 127.5 - 1, NHWC float32',
  producer: `onnxruntime-node ${ortVersion}, CPU, 1 thread`,
  outputs,
}, null, 2) + '\n');
console.log(`${prefix}.f32: ${outputs.map((o) => `${o.name} [${o.shape}]`).join(', ')}`);
