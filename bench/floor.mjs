// The kernel's floor for a fan-out (build/bench/send-floor, bench/send-floor.c),
// for the scripts that measure framecast beside it: bench/send-floor.mjs and
// bench/h264-passthrough.mjs --floor 1.
import { execFileSync } from 'node:child_process';

// What goes on the wire for one frame of `payload` bytes: the 16-byte frame
// header, the payload and the WebSocket header (2 bytes, +2 from 126 bytes,
// +8 from 64 KiB).
export function wireBytes(payload) {
  const n = Math.round(payload) + 16;
  return n + (n < 126 ? 2 : n < 65536 ? 4 : 10);
}

// One run of the floor: `subscribers` loopback sockets, a `bytes` message to
// each 30 times a second for `seconds`, by one send() each (`send`) or in one
// io_uring submission per tick (`uring`). Its JSON line, parsed.
export function sendFloor({ mode = 'send', subscribers, bytes, seconds }) {
  return JSON.parse(execFileSync(`${process.env.BUILD || 'build'}/bench/send-floor`, ['--mode', mode,
    '--subscribers', String(subscribers), '--bytes', String(bytes), '--seconds', String(seconds)]));
}
