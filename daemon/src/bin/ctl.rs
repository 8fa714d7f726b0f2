//! daedalus-v4l2ctl: ask the daedalus-v4l2 daemon how it is doing.
//!
//! Talks to the daemon's control socket; under systemd, connecting starts the daemon
//! (daedalus-v4l2d.socket).

#![forbid(unsafe_code)]

use std::{
    io::{BufRead, BufReader, Write},
    os::unix::net::UnixStream,
    path::PathBuf,
    time::Duration,
};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use daedalus_v4l2d::status::{self, Status};

#[derive(Parser)]
#[command(version, about = "Query the daedalus-v4l2 decoding daemon")]
struct Args {
    /// The daemon's control socket.
    #[arg(long, default_value = status::DEFAULT_SOCKET)]
    socket: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Attached state, streams, frames decoded, errors, frames/s.
    Status {
        /// Print the daemon's JSON as it is.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> Result<()> {
    let args = Args::parse();
    let Command::Status { json } = args.command;
    let mut sock = UnixStream::connect(&args.socket).map_err(|e| {
        let hint = match e.kind() {
            std::io::ErrorKind::PermissionDenied => "only members of group video may ask",
            _ => "is daedalus-v4l2d.socket active?",
        };
        anyhow::Error::new(e).context(format!(
            "cannot reach the daemon at {} ({hint})",
            args.socket.display()
        ))
    })?;
    // Socket activation may have to start the daemon first.
    sock.set_read_timeout(Some(Duration::from_secs(30)))?;
    sock.write_all(b"status\n")?;
    let mut line = String::new();
    BufReader::new(&sock)
        .read_line(&mut line)
        .context("reading the daemon's answer")?;
    if json {
        print!("{line}");
        return Ok(());
    }
    let s: Status = serde_json::from_str(&line).context("the daemon's answer")?;
    print!("{}", status::render(&s));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// The man page documents every option and subcommand.
    #[test]
    fn man_page_has_every_option() {
        let man = include_str!("../../man/daedalus-v4l2ctl.1");
        let cmd = Args::command();
        let subs: Vec<_> = cmd.get_subcommands().collect();
        for arg in cmd
            .get_arguments()
            .chain(subs.iter().flat_map(|s| s.get_arguments()))
        {
            let long = arg.get_long().expect("every option has a long name");
            let roff = format!("\\-\\-{}", long.replace('-', "\\-"));
            assert!(man.contains(&roff), "daedalus-v4l2ctl.1 lacks --{long}");
        }
        for sub in subs {
            assert!(
                man.contains(&format!(".B {}", sub.get_name())),
                "{}",
                sub.get_name()
            );
        }
    }
}
