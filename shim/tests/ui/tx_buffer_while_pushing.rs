// A TX slot's buffer cannot be written while the batch moves on to another slot.
fn main() -> nmxdp::Result<()> {
    let mut port = nmxdp::Port::open("netmap:eth0")?;
    let mut tx = port.tx_ring(0);
    let mut batch = tx.batch();
    let mut slot = batch.slot().unwrap();
    let buf = slot.buf_mut();
    batch.push(&[0u8; 60]);
    buf[0] = 1;
    Ok(())
}
