#!/bin/sh
# Makes the video fixtures of the source tests with Debian's ffmpeg CLI, from
# lavfi test sources (and the face picture), into DIR. Each file is small and
# quick to make; nothing here is committed.
#   make-fixtures.sh DIR FACE_PNG
set -eu
dir=$1
face=$(realpath "$2")
mkdir -p "$dir"
cd "$dir"
ff() { ffmpeg -nostdin -hide_banner -loglevel error -y "$@"; }
x264="-c:v libx264 -preset ultrafast -pix_fmt yuv420p"

# 2 s of 320x240 at 30 fps, a key frame every 15 frames; moov first.
ff -f lavfi -i testsrc2=size=320x240:rate=30 -t 2 $x264 -g 15 -keyint_min 15 -sc_threshold 0 \
   -bf 0 -movflags +faststart h264.mp4
# A key frame every 1.5 s (45 frames), 6 s: key-frame-only decoding for detection.
ff -f lavfi -i testsrc2=size=320x240:rate=30 -t 6 $x264 -g 45 -keyint_min 45 -sc_threshold 0 \
   -bf 0 -movflags +faststart gop45.mp4
# The same with B-frames (decode order differs from presentation order).
ff -f lavfi -i testsrc2=size=320x240:rate=30 -t 2 -c:v libx264 -preset fast -pix_fmt yuv420p \
   -g 15 -bf 2 -movflags +faststart h264-bframes.mp4
# The moov at the end: cut short, it cannot even be opened.
ff -f lavfi -i testsrc2=size=320x240:rate=30 -t 2 $x264 -g 15 moov-at-end.mp4
# VP8 in WebM, 25 fps.
ff -f lavfi -i testsrc=size=320x240:rate=25 -t 2 -c:v libvpx -b:v 300k -g 10 vp8.webm
# The face picture (head and shoulders) moving right at 60 px/s across a grey
# background, 640x360, 4 s.
ff -f lavfi -i color=c=0x606060:size=640x360:rate=30 -loop 1 -i "$face" -filter_complex \
   "[1]crop=240:240:140:40,scale=300:-2[f];[0][f]overlay=x='10+t*60':y=20:shortest=1" -t 4 \
   $x264 -g 30 -movflags +faststart face.mp4
# Resolution change mid-stream: two MPEG-TS parts back to back.
ff -f lavfi -i testsrc2=size=320x240:rate=30 -t 1 $x264 -g 10 -f mpegts part-a.ts
ff -f lavfi -i testsrc2=size=480x272:rate=30 -t 1 $x264 -g 10 -f mpegts part-b.ts
cat part-a.ts part-b.ts > size-change.ts
# Bad inputs.
ff -f lavfi -i sine=frequency=440:sample_rate=48000 -t 1 -c:a pcm_s16le audio-only.wav
ff -f lavfi -i testsrc2=size=160x120:rate=10 -t 1 -c:v ffv1 ffv1.mkv
head -c 40000 moov-at-end.mp4 > truncated-moov.mp4
size=$(wc -c < h264.mp4)
head -c $((size * 6 / 10)) h264.mp4 > truncated.mp4
head -c 65536 /dev/urandom > random.bin
# Garbage over the middle third of a good file: the demuxer reads on, the
# decoder complains and conceals.
cp h264.mp4 corrupt-middle.mp4
dd if=/dev/urandom of=corrupt-middle.mp4 bs=1 seek=$((size / 3)) count=$((size / 3)) \
   conv=notrunc status=none
touch empty.mp4
