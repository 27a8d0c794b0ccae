// A packet cannot outlive the ring view it came from.
fn main() -> nmxdp::Result<()> {
    let mut port = nmxdp::Port::open("netmap:eth0")?;
    let pkt = {
        let mut rx = port.rx_ring(0);
        let p = rx.packets().next().unwrap();
        p
    };
    println!("{}", pkt.len());
    Ok(())
}
