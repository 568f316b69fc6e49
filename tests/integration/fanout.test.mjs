// The fan-out's write path (src/transport/ws_wake.c, conn.c "Writing"): a
// subscriber that keeps up is written to in the loop turn its frame was
// published in, without a writeable round trip per frame; one that fell
// behind catches up several messages per writeable callback; one that stops
// reading is never written to while its socket is full, so its queue
// overflows and drops instead of piling frames up inside libwebsockets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Server, Subscriber, metricIn, until } from '../lib/server.mjs';

async function writes(srv) {
  const { body } = await srv.text('/metrics');
  return {
    direct: metricIn(body, 'fc_websocket_writes_total', { turn: 'direct' }),
    writeable: metricIn(body, 'fc_websocket_writes_total', { turn: 'writeable' }),
    turnsWriteable: metricIn(body, 'fc_websocket_write_turns_total', { turn: 'writeable' }),
    choked: metricIn(body, 'fc_websocket_write_choked_total'),
    body,
  };
}

function depths(body) {
  return [...body.matchAll(/^fc_subscriber_queue_depth\{stream="cam0",subscriber="\d+",tier="\w+"(?:,loop="\d+")?\} (\d+)$/gm)]
    .map((m) => Number(m[1]));
}

test('subscribers that keep up are written to directly: no writeable callback per frame', async () => {
  const srv = await new Server(['--synthetic', '1', '--size', '320x240', '--fps', '30']).start();
  try {
    const subs = [0, 1, 2].map(() => new Subscriber(`${srv.ws}/ws/streams/cam0?quality=high`));
    await Promise.all(subs.map((s) => s.opened));
    await until(() => subs.every((s) => s.frames.length >= 5), { timeoutMs: 20000, what: 'first frames' });
    const before = await writes(srv);
    const got0 = subs.map((s) => s.frames.length);
    await until(() => subs.every((s, i) => s.frames.length - got0[i] >= 60),
      { timeoutMs: 30000, what: '60 more frames for every subscriber' });
    const after = await writes(srv);
    const frames = subs.reduce((sum, s, i) => sum + s.frames.length - got0[i], 0);
    const direct = after.direct - before.direct;
    // Nearly every frame was written at once: a reading client's socket has room.
    assert.ok(direct >= 0.9 * frames, `${direct} direct writes for ${frames} frames`);
    assert.ok(after.turnsWriteable - before.turnsWriteable <= 0.1 * frames,
      `${after.turnsWriteable - before.turnsWriteable} writeable callbacks for ${frames} frames`);
    for (const s of subs) assert.deepEqual(s.errors, []);
    await Promise.all(subs.map((s) => s.close()));
  } finally {
    await srv.stop();
  }
});

test('a stalled reader drops instead of buffering; once it reads again it catches up several messages per writeable callback', async () => {
  // 720p frames fill the stalled socket's kernel buffers within seconds.
  const srv = await new Server(['--synthetic', '1', '--size', '1280x720', '--fps', '30']).start();
  try {
    const slow = new Subscriber(`${srv.ws}/ws/streams/cam0?quality=high`, { read: false });
    await slow.opened;
    // Frames are written to it only while its socket has room: once the
    // kernel's buffers are full its queue fills, then drops (were frames
    // written anyway, libwebsockets would buffer them all and nothing would
    // ever drop).
    await until(async () => (await srv.metric('fc_stream_drops_total', { stream: 'cam0' })) > 0,
      { timeoutMs: 60000, everyMs: 250, what: 'the stalled subscriber to overflow its queue' });
    const stalled = await writes(srv);
    assert.ok(stalled.choked > 0, 'a turn found the socket full and left the rest to the callback');
    const depth = depths(stalled.body);
    assert.equal(depth.length, 1, stalled.body);
    assert.ok(depth[0] > 10 && depth[0] <= 50, `queue depth ${depth[0]}: full, within its capacity`);
    // The frames alive are the queue's and a few in flight, not a backlog.
    const alive = metricIn(stalled.body, 'fc_frames_alive');
    assert.ok(alive <= 70, `${alive} frames alive`);

    // Reading again: the queued frames go out in writeable callbacks of up
    // to 8 messages each while the socket has room.
    const seen = slow.frames.length;
    slow.ws._socket.resume();
    await until(async () => slow.frames.length > seen + 60 && depths((await writes(srv)).body)[0] < 5,
      { timeoutMs: 30000, everyMs: 100, what: 'the resumed subscriber to catch up' });
    const caught = await writes(srv);
    const messages = caught.writeable - stalled.writeable;
    const turns = caught.turnsWriteable - stalled.turnsWriteable;
    assert.ok(messages >= 10, `${messages} messages written in writeable callbacks while catching up`);
    assert.ok(messages >= 1.5 * turns, `${messages} messages in ${turns} writeable callbacks`);
    // ...and never more than 8 in one: the others get their turns too.
    assert.ok(messages <= 8 * turns, `${messages} messages in ${turns} writeable callbacks`);
    assert.deepEqual(slow.errors, []);
    slow.ws.terminate();
  } finally {
    await srv.stop();
  }
});
