#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The daemon's decode loop natively, against FFmpeg alone (run by tools/bench-native.sh).

For each 1080p clip of tools/make-clips.sh --bench: `daedalus-v4l2d --bench` (the stateless
worker's decode and CAPTURE write, no kernel) and FFmpeg alone with the same threads (slice
threads; AV1 through libdav1d with no frame delay, as the daemon runs it; to NV12, or P010 for
10-bit, as the loop writes). Of each, in the steady state (the clip less its first pictures, so
that process start-up is left out):
  - frames/s and CPU ms per picture, the best of --runs runs, the two taking turns;
  - user-space instructions per picture, counted by valgrind's callgrind (every thread; the
    kernel's are not counted): whatever else the machine does, they repeat to 0.1% (FFmpeg's
    threads hand pictures over in an order that varies a little).
"""
import argparse
import os
import re
import resource
import subprocess
import time

CLIPS = "/build/clips/bench"
DAEMON = "/build/target/release/daedalus-v4l2d"
DEFAULT = ["vp9-1920x1080.ivf", "vp9-10bit-1920x1080.ivf", "h264-1920x1080.h264",
           "h264-10bit-1920x1080.h264", "av1-1920x1080.ivf", "av1-10bit-1920x1080.ivf"]


def info(path, key):
    with open(path) as f:
        for line in f:
            if line.startswith(key + "="):
                return line.split("=", 1)[1].strip()
    raise SystemExit(f"{path}: no {key}=")


def commands(clip, threads):
    """The two paths' command lines for a file of `clip`."""
    fmt = info(f"{CLIPS}/{os.path.splitext(clip)[0]}.info", "format")
    dec, low = ([], [])
    if clip.startswith("av1"):
        dec, low = (["-c:v", "libdav1d"], ["-flags", "low_delay"])
    return {
        "loop": lambda f: [DAEMON, "--threads", str(threads), "--bench", f],
        "FFmpeg": lambda f: ["ffmpeg", "-nostdin", "-v", "error", *low, "-threads", str(threads),
                             "-thread_type", "slice", *dec, "-i", f, "-pix_fmt", fmt,
                             "-f", "null", "-"],
    }


def timed(cmd):
    """Wall and CPU seconds (user + system, every thread) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def counted(cmd):
    """User-space instructions of one run (callgrind's total)."""
    r = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *cmd],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    m = re.search(r"I\s+refs:\s+([\d,]+)", r.stderr)
    if not m:
        raise SystemExit(f"no instruction count from callgrind for {cmd}")
    return int(m.group(1).replace(",", ""))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("clips", nargs="*", default=DEFAULT)
    opt = ap.parse_args()
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                  if line.startswith("model name")), "unknown CPU")
    print(f"daedalus-v4l2 native bench: {os.cpu_count()} CPUs ({model}), {opt.threads} decoder "
          f"threads, best of {opt.runs} runs; steady state (the clip less its first pictures)")
    print(f"{'clip':<26} {'path':<7} {'frames/s':>9} {'CPU ms':>7} {'M instr':>8}   "
          "loop over FFmpeg: frames/s, CPU, instructions")
    for clip in opt.clips:
        base, ext = os.path.splitext(clip)
        files = {"head": f"{CLIPS}/{base}-head{ext}", "whole": f"{CLIPS}/{clip}"}
        for f in files.values():
            if not os.path.exists(f):
                raise SystemExit(f"no {f} (tools/make-clips.sh --bench)")
        n = int(info(f"{CLIPS}/{base}.info", "frames")) - \
            int(info(f"{CLIPS}/{base}-head.info", "frames"))
        paths = commands(clip, opt.threads)
        best = {}
        for _ in range(opt.runs):
            for p, cmd in paths.items():
                for what, f in files.items():
                    wall, cpu = timed(cmd(f))
                    w, c = best.get((p, what), (wall, cpu))
                    best[(p, what)] = (min(w, wall), min(c, cpu))
        fig = {}
        for p, cmd in paths.items():
            instr = counted(cmd(files["whole"])) - counted(cmd(files["head"]))
            (hw, hc), (ww, wc) = best[(p, "head")], best[(p, "whole")]
            fig[p] = (n / (ww - hw), (wc - hc) * 1000 / n, instr / n / 1e6)
        for p in ("FFmpeg", "loop"):
            fps, cpu, mi = fig[p]
            line = f"{base if p == 'FFmpeg' else '':<26} {p:<7} {fps:9.1f} {cpu:7.2f} {mi:8.2f}"
            if p == "loop":
                ff = fig["FFmpeg"]
                line += f"   {fps / ff[0]:.2f}, {cpu / ff[1]:.2f}, {mi / ff[2]:.3f}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
