//! Command line: upstream bridge's options (`-i IFA -i IFB -b BURST -w WAIT -c -v`, or positional
//! `IFA [IFB [BURST]]`) plus `--count`, resolved into a [`Plan`].

use std::time::Duration;

use anyhow::{bail, Result};
use clap::{ArgAction, Parser};

/// Largest burst upstream accepts.
pub const MAX_BURST: u32 = 8192;
/// Longest link wait upstream accepts, in seconds.
pub const MAX_WAIT: u64 = 100;

/// netmap's bridge over nmxdp: forwards every packet between two interfaces, both ways.
#[derive(Debug, Parser)]
#[command(
    name = "bridge",
    disable_version_flag = true,
    after_help = "IFA and IFB use netmap's port syntax (netmap:eth0, netmap:eth0-1, ...); a name \
                  without netmap: gets it prepended.\nexample: bridge -w 10 -i netmap:eth3 -i netmap:eth1"
)]
pub struct Args {
    /// Interface, given twice: -i IFA -i IFB.
    #[arg(short = 'i', value_name = "IF", action = ArgAction::Append)]
    pub iface: Vec<String>,
    /// Packets moved per direction per round [default: 1024].
    #[arg(short = 'b', value_name = "BURST",
          value_parser = clap::value_parser!(u32).range(1..=MAX_BURST as i64))]
    pub burst: Option<u32>,
    /// Seconds to wait for the link before starting.
    #[arg(short = 'w', value_name = "WAIT", default_value_t = 4,
          value_parser = clap::value_parser!(u64).range(0..=MAX_WAIT))]
    pub wait_link: u64,
    /// Copy packets even when the two ports share buffers (no zero-copy buffer swapping).
    #[arg(short = 'c')]
    pub copy: bool,
    /// Verbose: a rate line per second and the ring state after 2.5 s without traffic.
    #[arg(short = 'v', action = ArgAction::Count)]
    pub verbose: u8,
    /// Loopback traffic on one interface (upstream's -L; not available in nmxdp).
    #[arg(short = 'L')]
    pub loopback: bool,
    /// Exit after forwarding N packets in total (both directions together).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// `IFA [IFB [BURST]]`, as upstream's second usage; these win over -i and -b.
    #[arg(value_name = "IFA [IFB [BURST]]", num_args = 0..=3)]
    pub positional: Vec<String>,
}

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub ifa: String,
    pub ifb: String,
    pub burst: u32,
    pub wait_link: Duration,
    pub force_copy: bool,
    pub verbose: u8,
    pub count: Option<u64>,
}

/// `-i` as upstream takes it: `netmap:...` and `vale...` as is, anything else gets `netmap:`.
pub fn port_name(arg: &str) -> String {
    if arg.starts_with("netmap:") || arg.starts_with("vale") {
        arg.to_string()
    } else {
        format!("netmap:{arg}")
    }
}

impl Args {
    /// Checks the combination and applies upstream's defaults.
    pub fn resolve(self) -> Result<Plan> {
        if self.iface.len() > 2 {
            bail!(
                "-i {}: already have 2 interfaces ({} and {})",
                self.iface[2],
                self.iface[0],
                self.iface[1]
            );
        }
        let mut ifa = self.iface.first().cloned();
        let mut ifb = self.iface.get(1).cloned();
        let mut burst = self.burst.unwrap_or(1024);
        if let Some(a) = self.positional.first() {
            ifa = Some(a.clone());
        }
        if let Some(b) = self.positional.get(1) {
            ifb = Some(b.clone());
        }
        if let Some(b) = self.positional.get(2) {
            burst = match b.parse::<u32>() {
                Ok(v) if (1..=MAX_BURST).contains(&v) => v,
                _ => bail!("invalid burst '{b}': expected 1..={MAX_BURST}"),
            };
        }
        let Some(ifa) = ifa else {
            bail!("missing interface: bridge -i IFA -i IFB (or bridge IFA IFB), see --help");
        };
        let ifa = port_name(&ifa);
        let ifb = ifb.map(|b| port_name(&b));
        if self.loopback {
            bail!("-L (loopback on one interface) is not available in nmxdp: give two interfaces");
        }
        // One interface: upstream bridges it with its own host rings (IFA^), the in-line setup.
        let ifb = ifb.unwrap_or_else(|| format!("{ifa}^"));
        if ifb == ifa {
            bail!(
                "{ifa} given twice: a port cannot be bridged with itself; give two interfaces, \
                 or one alone to bridge it with its host rings ({ifa}^)"
            );
        }
        Ok(Plan {
            ifa,
            ifb,
            burst,
            wait_link: Duration::from_secs(self.wait_link),
            force_copy: self.copy,
            verbose: self.verbose,
            count: self.count,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(args: &[&str]) -> Result<Plan> {
        let mut v = vec!["bridge"];
        v.extend_from_slice(args);
        Args::try_parse_from(v)?.resolve()
    }

    #[test]
    fn options_and_defaults() {
        let p = plan(&["-i", "va", "-i", "netmap:vb-0"]).unwrap();
        assert_eq!(p.ifa, "netmap:va");
        assert_eq!(p.ifb, "netmap:vb-0");
        assert_eq!(p.burst, 1024);
        assert_eq!(p.wait_link, Duration::from_secs(4));
        assert!(!p.force_copy);
        assert_eq!((p.verbose, p.count), (0, None));
        let p = plan(&[
            "-c", "-vv", "-b", "64", "-w", "0", "--count", "10", "-i", "a", "-i", "b",
        ])
        .unwrap();
        assert_eq!(
            (p.burst, p.wait_link, p.force_copy, p.verbose, p.count),
            (64, Duration::ZERO, true, 2, Some(10))
        );
    }

    #[test]
    fn positional_form() {
        let p = plan(&["-w", "1", "eth0", "eth1", "512"]).unwrap();
        assert_eq!(
            (p.ifa.as_str(), p.ifb.as_str(), p.burst),
            ("netmap:eth0", "netmap:eth1", 512)
        );
        // Positional names win over -i, as upstream.
        let p = plan(&["-i", "x", "-i", "y", "eth0", "eth1"]).unwrap();
        assert_eq!(
            (p.ifa.as_str(), p.ifb.as_str()),
            ("netmap:eth0", "netmap:eth1")
        );
        assert!(plan(&["eth0", "eth1", "0"]).is_err());
        assert!(plan(&["eth0", "eth1", "8193"]).is_err());
        assert!(plan(&["eth0", "eth1", "x"]).is_err());
        assert!(plan(&["a", "b", "1", "extra"]).is_err());
    }

    #[test]
    fn errors() {
        assert!(plan(&[]).is_err());
        assert!(plan(&["-i", "a", "-i", "b", "-i", "c"]).is_err());
        assert!(plan(&["-i", "a", "-i", "b", "-b", "0"]).is_err());
        assert!(plan(&["-i", "a", "-i", "b", "-b", "8193"]).is_err());
        assert!(plan(&["-i", "a", "-i", "b", "-w", "101"]).is_err());
        assert!(plan(&["-i", "a", "-i", "b", "--count", "0"]).is_err());
        assert!(plan(&["-i", "a", "-i", "b", "-L"]).is_err());
        let e = plan(&["-i", "eth0", "-i", "netmap:eth0"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("given twice"), "{e}");
    }

    #[test]
    fn one_interface_is_bridged_with_its_host_rings() {
        let p = plan(&["-i", "eth0"]).unwrap();
        assert_eq!(
            (p.ifa.as_str(), p.ifb.as_str()),
            ("netmap:eth0", "netmap:eth0^")
        );
        let p = plan(&["eth1"]).unwrap();
        assert_eq!(p.ifb, "netmap:eth1^");
    }
}
