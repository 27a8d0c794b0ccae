// A packet slice cannot be used after a sync: the sync may hand its buffer to the kernel.
fn main() -> nmxdp::Result<()> {
    let mut port = nmxdp::Port::open("netmap:eth0")?;
    let mut rx = port.rx_ring(0);
    let pkt = rx.packets().next().unwrap();
    port.sync_rx()?;
    println!("{}", pkt.len());
    Ok(())
}
