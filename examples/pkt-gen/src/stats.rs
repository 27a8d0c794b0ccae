//! `-A`: mean and standard deviation of the reported rate over the last 15 reports (upstream's
//! sliding window; empty slots do not count), shown in the report line as
//! `[avg/std X/Y pps]`.

use pkt_gen::summary::norm;

const WIN: usize = 15;

#[derive(Debug, Default)]
pub struct PpsWindow {
    win: [f64; WIN],
    idx: usize,
}

impl PpsWindow {
    /// Adds one report's rate; returns (mean, standard deviation) over the window.
    pub fn push(&mut self, pps: f64) -> (f64, f64) {
        self.win[self.idx] = pps;
        self.idx = (self.idx + 1) % WIN;
        let used: Vec<f64> = self.win.iter().copied().filter(|&v| v != 0.0).collect();
        if used.is_empty() {
            return (0.0, 0.0);
        }
        let n = used.len() as f64;
        let avg = used.iter().sum::<f64>() / n;
        let var = used.iter().map(|v| (v - avg) * (v - avg)).sum::<f64>() / n;
        (avg, var.sqrt())
    }
}

/// Puts `[avg/std A/S pps]` into a report line after its rate, as upstream's format
/// `"%spps %s(%spkts ..."` does.
pub fn splice(line: &str, avg: f64, dev: f64, normalize: bool) -> String {
    let tag = format!(
        "[avg/std {}/{} pps]",
        norm(avg, normalize),
        norm(dev, normalize)
    );
    match line.find("pps (") {
        Some(i) => format!("{}pps {tag}({}", &line[..i], &line[i + 5..]),
        None => line.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window() {
        let mut w = PpsWindow::default();
        assert_eq!(w.push(10.0), (10.0, 0.0));
        let (a, d) = w.push(20.0);
        assert_eq!((a, d), (15.0, 5.0));
        for _ in 0..WIN {
            w.push(4.0);
        }
        assert_eq!(w.push(4.0), (4.0, 0.0));
    }

    #[test]
    fn spliced_line() {
        let l = "1.000 main_thread [2781] 1.234 Mpps (1.234 Mpkts 592.320 Mbps in 1000000 usec) 1.00 avg_batch 0 min_space";
        assert_eq!(
            splice(l, 1.2e6, 5e3, true),
            "1.000 main_thread [2781] 1.234 Mpps [avg/std 1.200 M/5.000 K pps](1.234 Mpkts 592.320 Mbps in 1000000 usec) 1.00 avg_batch 0 min_space"
        );
    }
}
