// Shared by reference.mjs and bench.mjs: the model input exactly as framecast
// builds it (src/analysis/face/face.c: RGB bytes / 127.5 - 1, float32, NHWC).
import { readFileSync } from 'node:fs';
import ort from 'onnxruntime-node';

export function readPpm(path) {
  const buf = readFileSync(path);
  const header = buf.toString('latin1', 0, 64).match(/^P6\s+(\d+)\s+(\d+)\s+255\s/);
  if (!header) throw new Error(`${path}: not a binary 8-bit PPM`);
  const [all, w, h] = header;
  return { width: +w, height: +h, rgb: buf.subarray(all.length, all.length + w * h * 3) };
}

export function inputTensor(ppm) {
  const data = new Float32Array(ppm.rgb.length);
  for (let i = 0; i < data.length; i++) data[i] = Math.fround(ppm.rgb[i] / 127.5) - 1;
  return new ort.Tensor('float32', data, [1, ppm.height, ppm.width, 3]);
}

// One thread, as framecast runs one inference per worker thread.
export async function openSession(model) {
  return ort.InferenceSession.create(model, {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    logSeverityLevel: 3, // not the warnings about the converter's unused initializers
  });
}
