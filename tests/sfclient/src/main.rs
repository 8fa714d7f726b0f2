// SPDX-License-Identifier: GPL-2.0
//! A V4L2 stateful decoder client built on the `v4l2r` crate, for the codec that no client in
//! Debian trixie decodes statefully (AV1: FFmpeg has no `av1_v4l2m2m`, GStreamer no
//! `v4l2av1dec`), and for VP9 beside the real clients.
//!
//! v4l2r's `decoder::stateful::Decoder` does the interface's steps (dev-decoder.rst) as a
//! browser does: S_FMT on OUTPUT, OUTPUT buffers with timestamps, the source-change event, G_FMT
//! and G_SELECTION, CAPTURE buffers set up from them (again at a mid-stream change, after the
//! empty LAST buffer), and the drain (`V4L2_DEC_CMD_STOP` until the buffer flagged LAST). This
//! program feeds one IVF frame (an AV1 temporal unit, a VP9 frame) per OUTPUT buffer, hashes the
//! visible rectangle of every picture, packed as FFmpeg's `nv12`/`p010le`, and compares the
//! hashes, in order, with FFmpeg's framemd5 of the clip; every picture must carry the timestamp
//! of an OUTPUT buffer fed, and none may be flagged ERROR. Exit status 0 when all match.

use std::collections::HashSet;
use std::fs;
use std::path::PathBuf;
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use clap::Parser;
use md5::{Digest, Md5};
use v4l2r::decoder::stateful::{Decoder, DrainError};
use v4l2r::decoder::{DecoderEvent, FormatChangedReply};
use v4l2r::device::queue::handles_provider::MmapProvider;
use v4l2r::device::queue::FormatBuilder;
use v4l2r::ioctl::{querycap, BufferFlags, Capability};
use v4l2r::memory::{MemoryType, MmapHandle};
use v4l2r::nix::sys::time::{TimeVal, TimeValLike};
use v4l2r::{Format, PixelFormat, PlaneLayout, Rect};

/// OUTPUT buffers the client cycles through.
const OUTPUT_BUFFERS: usize = 4;
/// How long a drain may wait for the stream's format to be known (v4l2r drains only then).
const FORMAT_WAIT: Duration = Duration::from_secs(60);
/// How long the pictures may take to come out once the drain started.
const DRAIN_WAIT: Duration = Duration::from_secs(120);

#[derive(Parser)]
#[command(about = "Decode an IVF clip through a V4L2 stateful decoder (v4l2r) and check it")]
struct Args {
    /// The stateful decoder node, e.g. /dev/video10
    device: PathBuf,
    /// The clip (IVF: AV1 or VP9)
    clip: PathBuf,
    /// FFmpeg's framemd5 of the clip (`-pix_fmt nv12` or `p010le`)
    reference: PathBuf,
    /// The OUTPUT fourcc: AV01 or VP90
    #[arg(default_value = "AV01")]
    fourcc: String,
    /// Count the pictures against the reference without reading them, as a client that only
    /// displays them would (the bench: hashing each picture costs more than decoding it under
    /// emulation)
    #[arg(long)]
    count_only: bool,
}

/// The frames of an IVF file (32-byte header, then a 12-byte header before each frame).
fn ivf_frames(path: &PathBuf) -> Result<Vec<Vec<u8>>> {
    let data = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    ensure!(
        data.starts_with(b"DKIF"),
        "{}: not an IVF file",
        path.display()
    );
    let mut pos = usize::from(u16::from_le_bytes([data[6], data[7]]));
    let mut frames = Vec::new();
    while pos + 12 <= data.len() {
        let size = u32::from_le_bytes(data[pos..pos + 4].try_into()?) as usize;
        let frame = data
            .get(pos + 12..pos + 12 + size)
            .with_context(|| format!("{}: frame {} cut short", path.display(), frames.len()))?;
        frames.push(frame.to_vec());
        pos += 12 + size;
    }
    Ok(frames)
}

/// The CAPTURE format in force and what the capture thread saw.
#[derive(Default)]
struct Seen {
    format: Option<(Format, Rect)>,
    /// md5 of each picture, in the order they came (none with --count-only)
    pictures: Vec<String>,
    /// timestamps (µs) of the pictures: one per picture
    stamps: Vec<i64>,
    /// pictures (or empty buffers) flagged ERROR
    errors: usize,
    /// buffers flagged LAST, and drains that ended (v4l2r: LAST without a source change)
    last: usize,
    end_of_stream: usize,
}

/// The visible picture with its rows packed, as FFmpeg writes nv12 / p010le.
fn packed(mem: &[u8], format: &Format, visible: &Rect) -> Result<Vec<u8>> {
    let bpl = format.plane_fmt[0].bytesperline as usize;
    let bytes = if format.pixelformat == PixelFormat::from(b"P010") {
        2
    } else {
        1
    };
    let (w, h) = (visible.width as usize, visible.height as usize);
    let chroma = bpl * format.height as usize;
    let cw = 2 * w.div_ceil(2) * bytes;
    let mut out = Vec::with_capacity(w * h * 2 * bytes);
    let rows = (0..h)
        .map(|r| (r * bpl, w * bytes))
        .chain((0..h.div_ceil(2)).map(|r| (chroma + r * bpl, cw)));
    for (start, len) in rows {
        out.extend_from_slice(
            mem.get(start..start + len)
                .context("the picture is larger than its CAPTURE buffer")?,
        );
    }
    Ok(out)
}

fn main() -> Result<()> {
    // v4l2r's decoder thread unwraps its ioctls' results (a CAPTURE REQBUFS the device refuses
    // when its daemon died mid-allocation): a panic there would leave this thread waiting for
    // pictures that never come. A panic in any thread ends the client, with an error.
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report(info);
        std::process::exit(101);
    }));
    let args = Args::parse();
    let want: Vec<String> = fs::read_to_string(&args.reference)
        .with_context(|| format!("reading {}", args.reference.display()))?
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit(',').next().map(|m| m.trim().to_string()))
        .collect();
    let frames = ivf_frames(&args.clip)?;
    let fourcc: [u8; 4] = args
        .fourcc
        .as_bytes()
        .try_into()
        .context("a fourcc has four characters")?;
    let coded = PixelFormat::from(&fourcc);

    let seen = Arc::new(Mutex::new(Seen::default()));
    let (end_of_stream, ended) = mpsc::channel();
    let count_only = args.count_only;
    let on_event = {
        let seen = Arc::clone(&seen);
        move |event: DecoderEvent<MmapProvider>| {
            let mut seen = seen.lock().unwrap();
            let dqbuf = match event {
                DecoderEvent::FrameDecoded(dqbuf) => dqbuf,
                DecoderEvent::EndOfStream => {
                    seen.end_of_stream += 1;
                    // the main thread may have given up waiting: nothing to tell then
                    let _ = end_of_stream.send(());
                    return;
                }
            };
            let flags = dqbuf.data.flags();
            if flags.contains(BufferFlags::ERROR) {
                seen.errors += 1;
            }
            if flags.contains(BufferFlags::LAST) {
                seen.last += 1;
            }
            if *dqbuf.data.get_first_plane().bytesused == 0 {
                return; // the empty LAST buffer of a drain or a format change
            }
            let Some((format, visible)) = seen.format.clone() else {
                eprintln!("sfclient: a picture before any CAPTURE format");
                seen.errors += 1;
                return;
            };
            if !count_only {
                let picture = dqbuf
                    .get_plane_mapping(0)
                    .context("mapping a CAPTURE buffer")
                    .and_then(|m| packed(&m, &format, &visible));
                match picture {
                    Ok(p) => seen.pictures.push(format!("{:x}", Md5::digest(&p))),
                    Err(e) => {
                        eprintln!("sfclient: {e:#}");
                        seen.errors += 1;
                        return;
                    }
                }
            }
            let ts = dqbuf.data.timestamp();
            seen.stamps.push(ts.tv_sec * 1_000_000 + ts.tv_usec);
        }
    };
    let on_format = {
        let seen = Arc::clone(&seen);
        move |f: FormatBuilder, visible: Rect, min_buffers: usize| {
            let format = f.format().clone();
            println!(
                "sfclient: source change: {} {}x{} (bytesperline {}), visible {}x{}, {} CAPTURE buffers",
                format.pixelformat,
                format.width,
                format.height,
                format.plane_fmt[0].bytesperline,
                visible.width,
                visible.height,
                min_buffers
            );
            seen.lock().unwrap().format = Some((format.clone(), visible));
            Ok(FormatChangedReply {
                provider: MmapProvider::new(&format),
                mem_type: MemoryType::Mmap,
                num_buffers: min_buffers,
            })
        }
    };

    // Whether the device is still there is asked of it (QUERYCAP fails with ENODEV once it is
    // unregistered), every 200 ms, on an fd of this thread's own: once it is gone (an unbind),
    // the client ends with an error wherever it waits. v4l2r waits with no timeout in places a
    // vanished device never wakes: its capture thread leaves its loop at the device's EPOLLERR,
    // and a drain asked of it afterwards waits for its answer for ever (its channel's sender
    // lives on in the ended thread's result until the decoder is stopped).
    let watch = fs::File::open(&args.device)
        .with_context(|| format!("opening {}", args.device.display()))?;
    thread::spawn(move || loop {
        thread::sleep(Duration::from_millis(200));
        if let Err(e) = querycap::<Capability>(&watch) {
            eprintln!("sfclient: the device went away: {e}");
            std::process::exit(1);
        }
    });
    let largest = frames.iter().map(Vec::len).max().unwrap_or(0);
    let mut decoder = Decoder::open(&args.device)
        .with_context(|| format!("opening {} as a stateful decoder", args.device.display()))?
        .set_output_format(|f| {
            let format = f
                .set_pixelformat(coded)
                .set_planes_layout(vec![PlaneLayout {
                    sizeimage: largest as u32,
                    ..Default::default()
                }])
                .apply::<Format>()?;
            ensure!(
                format.pixelformat == coded,
                "the device does not take {coded}"
            );
            Ok(())
        })?
        .allocate_output_buffers::<Vec<MmapHandle>>(OUTPUT_BUFFERS)?
        .start(|_| (), on_event, on_format)?;

    let mut fed = HashSet::new();
    for (i, frame) in frames.iter().enumerate() {
        let buf = decoder.get_buffer()?;
        let mut map = buf
            .get_plane_mapping(0)
            .context("mapping an OUTPUT buffer")?;
        map.as_mut()
            .get_mut(..frame.len())
            .context("an IVF frame larger than the OUTPUT buffer")?
            .copy_from_slice(frame);
        drop(map);
        let us = 1000 * (i as i64 + 1);
        fed.insert(us);
        buf.set_timestamp(TimeVal::microseconds(us))
            .queue(&[frame.len()])?;
    }
    println!("sfclient: {} frames queued, draining", frames.len());
    // The drain: V4L2_DEC_CMD_STOP, then the pictures up to the buffer flagged LAST. v4l2r
    // issues the command only once the CAPTURE format is known (a stream fed whole before its
    // source change waits for it), and its blocking drain forgets that it waits when a
    // resolution change comes in between (v4l2r 0.0.8 sets CAPTURE up anew with no drain in
    // progress, and never answers): so the drain is started without blocking, and its end is
    // the end-of-stream the capture thread reports.
    let start = Instant::now();
    loop {
        match decoder.drain(false) {
            Ok(_) => break,
            Err(DrainError::TryAgain) if start.elapsed() < FORMAT_WAIT => {
                thread::sleep(Duration::from_millis(20))
            }
            Err(e) => return Err(e).context("draining"),
        }
    }
    // (a device that went away meanwhile ends the client: the watch above)
    if ended.recv_timeout(DRAIN_WAIT).is_err() {
        bail!("the drain did not end (no buffer flagged LAST)");
    }
    decoder.stop()?;

    let seen = seen.lock().unwrap();
    if seen.errors > 0 {
        bail!("{} buffers came back flagged ERROR", seen.errors);
    }
    if let Some(ts) = seen.stamps.iter().find(|ts| !fed.contains(ts)) {
        bail!("a picture has timestamp {ts} µs, which no OUTPUT buffer had");
    }
    ensure!(
        seen.end_of_stream == 1 && seen.last >= 1,
        "the drain ended {} times after {} LAST buffers",
        seen.end_of_stream,
        seen.last
    );
    for (i, (got, want)) in seen.pictures.iter().zip(&want).enumerate() {
        ensure!(got == want, "frame {i} differs (got {got}, want {want})");
    }
    ensure!(
        seen.stamps.len() == want.len(),
        "{} frames decoded, the reference has {}",
        seen.stamps.len(),
        want.len()
    );
    println!(
        "sfclient: {}: all {} frames {}, drained (LAST, end of stream)",
        args.fourcc,
        seen.stamps.len(),
        if count_only {
            "decoded (not read: --count-only)"
        } else {
            "byte-exact"
        }
    );
    Ok(())
}
