//! Test helper: opens one netmap port and receives until stdin closes, as a separate process
//! (several processes on one interface, SIGKILL, privileges). Prints `ready PID` once open, and
//! `received N` at the end; on an open error prints `error ERRNO MESSAGE` and exits 3.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn main() {
    let name = std::env::args()
        .nth(1)
        .expect("usage: nmxdp-hold NETMAP-NAME");
    let mut port = match nmxdp::Port::open(&name) {
        Ok(p) => p,
        Err(e) => {
            println!("error {} {}", e.errno(), e);
            std::process::exit(3);
        }
    };
    println!("ready {}", std::process::id());
    std::io::stdout().flush().unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let d = done.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        while std::io::stdin()
            .read(&mut buf)
            .map(|n| n > 0)
            .unwrap_or(false)
        {}
        d.store(true, Ordering::Relaxed);
    });
    let mut received = 0u64;
    while !done.load(Ordering::Relaxed) {
        let ev = port
            .poll(nmxdp::Events::IN, Some(Duration::from_millis(50)))
            .unwrap_or(nmxdp::Events::empty());
        if ev.contains(nmxdp::Events::IN) {
            for r in port.rx_rings() {
                let mut ring = port.rx_ring(r);
                received += ring.available() as u64;
                ring.release_all();
            }
        }
    }
    println!("received {received}");
}
