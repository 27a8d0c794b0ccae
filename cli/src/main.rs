//! `nmxdp`: what nmxdp sees on an interface, what is in use, and a launcher for unmodified
//! netmap binaries.

mod exec;
mod info;
mod multibuf;
mod status;
mod steer;

use std::ffi::OsString;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "nmxdp",
    version,
    about = "netmap over AF_XDP: interface information, ports in use, steering rules, running netmap binaries"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Queues, ring sizes, XDP modes available and the mode an open would use.
    Info {
        /// Interface name (e.g. eth0), in the current network namespace.
        iface: String,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Interfaces in use: attached program and mode, queue holders (pid), socket counters.
    Status {
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Steering rules (NMXDP_STEER) in force on an interface, per queue, with match counters.
    Steer {
        /// Interface name (e.g. eth0), in the current network namespace.
        iface: String,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Run a netmap program with nmxdp's libnetmap.so preloaded: `nmxdp exec -- pkt-gen ...`.
    Exec {
        /// The program and its arguments.
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        app: Vec<OsString>,
    },
}

fn print_json(v: &serde_json::Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

fn main() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Info { iface, json } => {
            let i = info::Info::gather(&iface)?;
            if json {
                print_json(&i.json());
            } else {
                print!("{}", i.text());
            }
        }
        Cmd::Status { json } => {
            let all = nmxdp::status::status();
            let regions = nmxdp::status::regions();
            if json {
                print_json(&status::json(&all, &regions));
            } else {
                print!("{}", status::text(&all));
                print!("{}", status::regions_text(&regions));
            }
        }
        Cmd::Steer { iface, json } => {
            let all = nmxdp::steer::status(&iface)?;
            if json {
                print_json(&steer::json(&iface, &all));
            } else {
                print!("{}", steer::text(&iface, &all));
            }
        }
        Cmd::Exec { app } => exec::exec(&app)?,
    }
    Ok(())
}
