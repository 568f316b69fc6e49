// What the bench scripts share: their command line, and the line that says
// what a figure was measured on.
import { execFileSync } from 'node:child_process';
import { loadavg } from 'node:os';

// The machine's other load when the script began (the run adds its own).
export const LOAD_AT_START = loadavg()[0];

// `--key value` pairs over `defaults`. A key not in it, a missing value, or
// a number option given something else is refused with exit code 2, naming
// the script and the option.
export function parseOptions(script, defaults, argv = process.argv.slice(2)) {
  const opt = { ...defaults };
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i].replace(/^--/, ''), v = argv[i + 1];
    const number = typeof defaults[k] === 'number';
    if (!(k in defaults) || v === undefined || (number && !Number.isFinite(Number(v)))) {
      console.error(`${script}: bad option ${argv[i]} (see the header of this file)`);
      process.exit(2);
    }
    opt[k] = number ? Number(v) : v;
  }
  return opt;
}

// "MODEL (N cores; sse4_2 avx2 avx512f avx512bw)": machines differ between
// runs, so every table says which one it came from.
export function machine() {
  const cpu = execFileSync('lscpu', { encoding: 'utf8' });
  const model = cpu.match(/^Model name:\s*(.*)$/m)?.[1] ?? 'unknown CPU';
  const flags = (cpu.match(/^Flags:\s*(.*)$/m)?.[1] ?? '').split(' ')
    .filter((f) => /^(avx2|avx512f|avx512bw|avx512vnni|sse4_2)$/.test(f)).join(' ');
  return `${model} (${execFileSync('nproc', { encoding: 'utf8' }).trim()} cores; ${flags})`;
}
