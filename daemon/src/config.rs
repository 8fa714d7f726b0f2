//! The daemon's configuration file (`/etc/daedalus-v4l2/daedalus-v4l2d.toml`, a conffile of the
//! Debian package). Every key is optional; command-line options override it.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

use crate::alloc;

/// Where the packaged configuration lives.
pub const DEFAULT_PATH: &str = "/etc/daedalus-v4l2/daedalus-v4l2d.toml";

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// Decoder threads per stream (0: one per CPU).
    pub threads: Option<usize>,
    /// Where CAPTURE buffers come from.
    pub allocator: Option<alloc::Kind>,
    /// DRM device for GBM allocation.
    pub drm_device: Option<PathBuf>,
    /// Log filter (tracing's EnvFilter syntax).
    pub log: Option<String>,
    /// Where streams decode.
    pub workers: Option<WorkerKind>,
    /// The memory limit of each stream's worker process, MiB.
    pub worker_memory_mib: Option<u64>,
    /// Each stream's worker in a cgroup of its own (the daemon's cgroup delegated to it).
    pub worker_cgroups: Option<bool>,
    /// Tasks each worker's cgroup allows (0: from the decoder threads).
    pub worker_tasks: Option<u32>,
}

/// Where streams decode (`workers`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum WorkerKind {
    /// A confined process per stream.
    Processes,
    /// A thread of the daemon per stream, unconfined (to debug a decoder).
    Threads,
}

/// `worker-memory-mib`'s default: a 4K 10-bit stream's pictures and references with room.
pub const DEFAULT_WORKER_MEMORY_MIB: u64 = 2048;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parse {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },
}

impl Config {
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|source| ConfigError::Parse {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Read `path`; a missing file is an empty configuration unless `required`.
    pub fn load(path: &Path, required: bool) -> Result<Config, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Config::parse(&text, path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
                Ok(Config::default())
            }
            Err(source) => Err(ConfigError::Read {
                path: path.to_path_buf(),
                source,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIPPED: &str = include_str!("../conf/daedalus-v4l2d.toml");

    /// The shipped file, with every documented default uncommented.
    fn uncommented() -> String {
        SHIPPED
            .lines()
            .filter_map(|l| l.strip_prefix('#'))
            .filter(|l| l.contains(" = ") && !l.starts_with(' '))
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn shipped_file_parses_as_no_settings() {
        assert_eq!(
            Config::parse(SHIPPED, Path::new("x")).unwrap(),
            Config::default()
        );
    }

    #[test]
    fn every_documented_key_is_a_setting() {
        let text = uncommented();
        assert_eq!(text.lines().count(), 8, "{text}");
        let c = Config::parse(&text, Path::new("x")).unwrap();
        assert_eq!(c.threads, Some(0));
        assert_eq!(c.allocator, Some(alloc::Kind::Auto));
        assert_eq!(c.drm_device.as_deref(), Some(Path::new("/dev/dri/card0")));
        assert_eq!(c.log.as_deref(), Some("info"));
        assert_eq!(c.workers, Some(WorkerKind::Processes));
        assert_eq!(c.worker_memory_mib, Some(DEFAULT_WORKER_MEMORY_MIB));
        assert_eq!(c.worker_cgroups, Some(false));
        assert_eq!(c.worker_tasks, Some(0));
    }

    #[test]
    fn allocator_names_are_the_command_line_names() {
        use clap::ValueEnum;
        for kind in alloc::Kind::value_variants() {
            let name = kind.to_possible_value().unwrap().get_name().to_string();
            let c = Config::parse(&format!("allocator = \"{name}\""), Path::new("x")).unwrap();
            assert_eq!(c.allocator, Some(*kind), "{name}");
        }
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors() {
        for bad in ["thread = 2", "threads = \"two\"", "allocator = \"cma\""] {
            let e = Config::parse(bad, Path::new("/etc/x.toml")).unwrap_err();
            assert!(e.to_string().starts_with("/etc/x.toml: "), "{e}");
        }
    }

    #[test]
    fn a_missing_file_is_an_error_only_when_asked_for() {
        let p = Path::new("/nonexistent/daedalus.toml");
        assert_eq!(Config::load(p, false).unwrap(), Config::default());
        assert!(Config::load(p, true).is_err());
    }
}
