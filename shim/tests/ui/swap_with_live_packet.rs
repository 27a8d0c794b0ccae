// A buffer cannot be swapped away while a packet slice of it is alive.
fn main() -> nmxdp::Result<()> {
    let mut port = nmxdp::Port::open("netmap:eth0")?;
    let (mut tx, mut rx) = port.tx_rx_rings(0, 0);
    let data = rx.packet(rx.head()).unwrap();
    let (h, t) = (rx.head(), tx.head());
    nmxdp::swap_buffers(&mut rx, h, &mut tx, t).unwrap();
    println!("{}", data.len());
    Ok(())
}
