//! The forwarding loop: NIC frames to the pipes of the first group by flow hash, frames the
//! workers of a group released to the next group, overflow queues drained first.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use nmxdp::abi::NS_MOREFRAG;
use nmxdp::{swap_buffers, Direction, Events, Port, Ring, TxRing};

use crate::args::{pipe_names, Args};
use crate::hash::flow_hash;
use crate::oq::{FreeQueue, Pending, Queue};
use crate::stats::{Ctr, Reporter, Totals};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

/// One output pipe's state beside its port.
#[derive(Default)]
struct Out {
    name: String,
    ctr: Ctr,
    oq: Queue,
    /// The first slot whose released frame is not passed on to the next group yet.
    last_tail: u32,
    /// The TX ring's tail when frames were last passed on.
    seen_tail: u32,
}

/// Everything but the ports, so that ring views of the ports can be held while it changes.
struct State {
    outs: Vec<Vec<Out>>,
    freeq: FreeQueue,
    /// Overflow queues are on (`-B` gave extra buffers).
    queues: bool,
    totals: Totals,
    forwarded: u64,
    dropped: u64,
}

/// Slots of the frame starting at `i` (1 + its `NS_MOREFRAG` continuations), within `avail`.
fn frame_slots<D: Direction>(r: &Ring<'_, D>, i: u32, avail: u32) -> u32 {
    let mut k = 1;
    let mut j = i;
    while k < avail && r.slot(j).flags & NS_MOREFRAG != 0 {
        j = r.next(j);
        k += 1;
    }
    k
}

impl State {
    /// Moves the frame of `k` slots at `src[i..]` to pipe `p` of group `g` (whose TX ring is
    /// `tx`): swapped into the ring if it has room and nothing waits before it, else into the
    /// pipe's overflow queue (the source slots get free buffers), else dropped (the source
    /// keeps its buffers). Returns false for a drop.
    fn forward<D: Direction>(
        &mut self,
        src: &mut Ring<'_, D>,
        i: u32,
        k: u32,
        g: usize,
        p: usize,
        tx: &mut TxRing<'_>,
    ) -> bool {
        let bytes: u64 = (0..k)
            .map(|x| src.slot((i + x) % src.num_slots()).len as u64)
            .sum();
        let out = &mut self.outs[g][p];
        if out.oq.is_empty() && tx.available() >= k {
            let mut j = tx.head();
            let mut s = i;
            for _ in 0..k {
                if swap_buffers(src, s, tx, j).is_err() {
                    break;
                }
                s = src.next(s);
                j = tx.next(j);
                self.totals.swaps += 1;
            }
            tx.advance(k);
            out.ctr.pkts += 1;
            out.ctr.bytes += bytes;
            self.forwarded += 1;
            return true;
        }
        if self.queues {
            if self.freeq.bufs.len() < k as usize {
                let mut qs: Vec<&mut Queue> =
                    self.outs.iter_mut().flatten().map(|o| &mut o.oq).collect();
                if let Some((q, frames, b)) = self.freeq.revoke(&mut qs) {
                    let o = self.outs.iter_mut().flatten().nth(q).expect("queue index");
                    o.ctr.drop += frames;
                    o.ctr.drop_bytes += b;
                    self.dropped += frames;
                }
            }
            if self.freeq.bufs.len() >= k as usize {
                let mut s = i;
                for _ in 0..k {
                    let mut buf = self.freeq.bufs.pop().expect("counted above");
                    let slot = src.slot(s);
                    if src.swap_extra(s, &mut buf).is_err() {
                        self.freeq.bufs.push(buf);
                        break;
                    }
                    self.outs[g][p].oq.push(Pending {
                        buf,
                        len: slot.len,
                        flags: slot.flags & NS_MOREFRAG,
                    });
                    s = src.next(s);
                }
                return true;
            }
        }
        let out = &mut self.outs[g][p];
        out.ctr.drop += 1;
        out.ctr.drop_bytes += bytes;
        self.dropped += 1;
        false
    }

    /// Moves queued frames of pipe `p` of group `g` into its TX ring while whole frames fit;
    /// the ring's free buffers go to the free queue.
    fn drain(&mut self, g: usize, p: usize, tx: &mut TxRing<'_>) {
        let out = &mut self.outs[g][p];
        loop {
            let k = out.oq.front_frame() as u32;
            if k == 0 || tx.available() < k {
                return;
            }
            let mut bytes = 0;
            for _ in 0..k {
                let mut q = out.oq.pop().expect("a whole frame");
                let j = tx.head();
                if tx.swap_extra(j, &mut q.buf).is_err() {
                    // Not ours to swap (cannot happen with a sane ring): give up on the frame.
                    self.freeq.bufs.push(q.buf);
                    continue;
                }
                let flags = tx.slot(j).flags & !NS_MOREFRAG;
                tx.set_len(j, q.len as usize);
                tx.set_flags(j, flags | q.flags);
                tx.advance(1);
                bytes += q.len as u64;
                self.totals.swaps += 1;
                self.freeq.bufs.push(q.buf);
            }
            out.ctr.pkts += 1;
            out.ctr.bytes += bytes;
            self.forwarded += 1;
        }
    }
}

/// Opens the ports and forwards until SIGINT or SIGTERM; prints upstream's summary.
pub fn run(a: &Args) -> Result<()> {
    let mut nic = Port::builder(&a.iface)
        .extra_bufs(a.extra_bufs)
        .open()
        .with_context(|| format!("cannot open {}", a.iface))?;
    let reg = nic.registration();
    eprintln!("lb: successfully opened {}", a.iface);
    let mut freeq = FreeQueue::default();
    while let Some(b) = nic.take_extra_buf() {
        freeq.bufs.push(b);
    }
    if a.extra_bufs > 0 {
        eprintln!("lb: obtained {} extra buffers", freeq.bufs.len());
    }
    let names = pipe_names(a, reg.nr_mem_id);
    let mut ports: Vec<Vec<Port>> = Vec::new();
    let mut outs: Vec<Vec<Out>> = Vec::new();
    for (g, group) in names.iter().enumerate() {
        let (mut pg, mut og) = (Vec::new(), Vec::new());
        for (k, name) in group.iter().enumerate() {
            let mut p = Port::open(name).with_context(|| format!("cannot open {name}"))?;
            if p.registration().nr_mem_id != reg.nr_mem_id {
                bail!(
                    "failed to open pipe #{} in zero-copy mode (memory {} is not {}'s {}): close any application that uses either end of {name} and retry",
                    k + 1,
                    p.registration().nr_mem_id,
                    a.iface,
                    reg.nr_mem_id
                );
            }
            // Slots come back into the ring's window one behind the reader (netmap keeps one
            // slot between tail and the reader's hwcur): the first to come back is the one
            // after the tail, the slot at the tail itself never carried a frame.
            let (tail, first) = {
                let tx = p.tx_ring(0);
                (tx.tail(), tx.next(tx.tail()))
            };
            eprintln!(
                "lb: successfully opened pipe #{} {name} (tx slots: {}), zerocopy enabled (group {g})",
                k + 1,
                p.registration().nr_tx_slots
            );
            og.push(Out {
                name: name.clone(),
                last_tail: first,
                seen_tail: tail,
                ..Out::default()
            });
            pg.push(p);
        }
        ports.push(pg);
        outs.push(og);
    }
    let queues = !freeq.bufs.is_empty();
    if a.extra_bufs > 0 && !queues {
        eprintln!("lb: *** overflow queues disabled ***");
    }
    let mut st = State {
        outs,
        freeq,
        queues,
        totals: Totals::default(),
        forwarded: 0,
        dropped: 0,
    };
    std::thread::sleep(Duration::from_secs(a.wait_link));
    // SAFETY: installs a handler that only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
    let npipes: usize = st.outs.iter().map(Vec::len).sum();
    let mut rep = Reporter::new(npipes, a.stdout_interval);
    let flat_names: Vec<String> = st.outs.iter().flatten().map(|o| o.name.clone()).collect();
    let timeout = Duration::from_millis(10);
    while !STOP.load(Ordering::Relaxed) {
        let waiting = st.outs.iter().flatten().any(|o| !o.oq.is_empty());
        if a.busy_wait {
            nic.sync_rx().context("RX sync")?;
        } else {
            let t = if waiting {
                Duration::from_millis(1)
            } else {
                timeout
            };
            match nic.poll(Events::IN, Some(t)) {
                Ok(_) => {}
                Err(e) if e.errno() == libc::EINTR => {}
                Err(e) => return Err(e).context("poll"),
            }
        }
        for p in ports.iter_mut().flatten() {
            p.sync_tx().context("pipe TX sync")?;
        }
        pass_on(&mut ports, &mut st);
        for (g, group) in ports.iter_mut().enumerate() {
            for (p, port) in group.iter_mut().enumerate() {
                if !st.outs[g][p].oq.is_empty() {
                    let mut tx = port.tx_ring(0);
                    st.drain(g, p, &mut tx);
                }
            }
        }
        from_nic(&mut nic, &mut ports[0], &mut st, a.batch)?;
        for p in ports.iter_mut().flatten() {
            p.sync_tx().context("pipe TX sync")?;
        }
        let ctrs: Vec<Ctr> = st.outs.iter().flatten().map(|o| o.ctr).collect();
        let oqs: Vec<usize> = st.outs.iter().flatten().map(|o| o.oq.len()).collect();
        rep.tick(
            &a.iface,
            &flat_names,
            &ctrs,
            &oqs,
            &st.totals,
            st.freeq.bufs.len(),
        );
    }
    println!(
        "{} packets forwarded.  {} packets dropped. Total {}",
        st.forwarded,
        st.dropped,
        st.forwarded + st.dropped
    );
    println!(
        "lb: zero-copy: {} packets received, {} buffers moved by index into {npipes} pipes, 0 bytes copied, {} non-IP",
        st.totals.received_pkts, st.totals.swaps, st.totals.non_ip
    );
    Ok(())
}

/// Takes the frames of the NIC's RX rings (at most `batch` before each RX sync) and forwards
/// each to the pipe of the first group its flow hashes to.
fn from_nic(nic: &mut Port, pipes: &mut [Port], st: &mut State, batch: u32) -> Result<()> {
    let n = pipes.len() as u32;
    let rings: Vec<u32> = nic.rx_rings().collect();
    let mut done = 0u32;
    for r in rings {
        loop {
            let mut rx = nic.rx_ring(r);
            if rx.available() == 0 {
                break;
            }
            let mut txs: Vec<TxRing<'_>> = pipes.iter_mut().map(|p| p.tx_ring(0)).collect();
            while rx.available() > 0 && done < batch {
                let i = rx.head();
                let k = frame_slots(&rx, i, rx.available());
                let hash = rx.packet(i).and_then(flow_hash);
                st.totals.received_pkts += 1;
                st.totals.received_bytes += rx.slot(i).len as u64;
                if hash.is_none() {
                    st.totals.non_ip += 1;
                }
                let p = (hash.unwrap_or(0) % n) as usize;
                st.forward(&mut rx, i, k, 0, p, &mut txs[p]);
                rx.advance(k);
                done += k;
            }
            drop(txs);
            drop(rx);
            if done >= batch {
                nic.sync_rx().context("RX sync")?;
                for p in pipes.iter_mut() {
                    p.sync_tx().context("pipe TX sync")?;
                }
                done = 0;
            }
        }
    }
    Ok(())
}

/// Frames the workers of group `g` released come back in the TX ring's new slots
/// `[last_tail, tail)`: they go on to group `g + 1`, by the same hash, and the slots get free
/// buffers back. The frame released last waits at the tail until the next one is released
/// (upstream reads the slot at the tail, outside the ring's window; nmxdp's views refuse it).
fn pass_on(ports: &mut [Vec<Port>], st: &mut State) {
    for g in (0..ports.len().saturating_sub(1)).rev() {
        let (head, rest) = ports.split_at_mut(g + 1);
        let (src, dst) = (&mut head[g], &mut rest[0]);
        let n = dst.len() as u32;
        for (p, port) in src.iter_mut().enumerate() {
            let mut tx = port.tx_ring(0);
            let mut txs: Vec<TxRing<'_>> = dst.iter_mut().map(|d| d.tx_ring(0)).collect();
            let stop = tx.tail();
            if stop == st.outs[g][p].seen_tail {
                continue;
            }
            let mut j = st.outs[g][p].last_tail;
            while j != stop {
                let k = frame_slots(&tx, j, tx.num_slots());
                let q = (tx.packet(j).and_then(flow_hash).unwrap_or(0) % n) as usize;
                st.forward(&mut tx, j, k, g + 1, q, &mut txs[q]);
                for _ in 0..k {
                    j = tx.next(j);
                }
            }
            st.outs[g][p].last_tail = stop;
            st.outs[g][p].seen_tail = stop;
        }
    }
}
