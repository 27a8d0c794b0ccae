// Two mutable views of a port's rings cannot coexist through separate calls.
fn main() -> nmxdp::Result<()> {
    let mut port = nmxdp::Port::open("netmap:eth0")?;
    let a = port.rx_ring(0);
    let b = port.rx_ring(0);
    drop((a, b));
    Ok(())
}
