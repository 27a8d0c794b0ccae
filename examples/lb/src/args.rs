//! upstream lb's options: `-i IFACE`, `-p [prefix:]npipes` (repeatable: one group each),
//! `-B nbufs`, `-b batch`, `-w seconds`, `-W`, `-o seconds`.

use anyhow::{anyhow, bail, Context, Result};

/// Pipes of a group when `-p` gives no count, and the group when there is no `-p`.
pub const DEF_OUT_PIPES: u32 = 2;
/// Frames taken from the NIC between two RX syncs.
pub const DEF_BATCH: u32 = 2048;
/// Seconds to wait for the link before forwarding.
pub const DEF_WAIT_LINK: u64 = 2;

/// One group of output pipes: every frame goes to one pipe of each group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// The pipes' parent name; None: the input port's name.
    pub prefix: Option<String>,
    pub pipes: u32,
}

/// The command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    /// The input port, `netmap:` added when missing.
    pub iface: String,
    pub groups: Vec<Group>,
    pub extra_bufs: u32,
    pub batch: u32,
    pub wait_link: u64,
    pub busy_wait: bool,
    /// Seconds between stdout stats lines (0: none).
    pub stdout_interval: u64,
}

/// The usage text.
pub fn usage() -> String {
    format!(
        "usage: lb [options]\n\
         where options are:\n  \
         -h                  view help text\n  \
         -i iface            interface name (required)\n  \
         -p [prefix:]npipes  add a new group of output pipes\n  \
         -B nbufs            number of extra buffers (default: 0)\n  \
         -b batch            batch size (default: {DEF_BATCH})\n  \
         -w seconds          wait for link up (default: {DEF_WAIT_LINK})\n  \
         -W                  enable busy waiting. this will run your CPU at 100%\n  \
         -o seconds          seconds between stdout stats messages (default: 0)\n"
    )
}

fn group(spec: &str) -> Result<Group> {
    let (prefix, count) = match spec.split_once(':') {
        Some(("", _)) => bail!("missing prefix before ':' in '{spec}'"),
        Some((p, c)) => (Some(p.to_string()), c),
        None => (None, spec),
    };
    let pipes = if count.is_empty() {
        DEF_OUT_PIPES
    } else {
        count
            .parse::<u32>()
            .ok()
            .filter(|&n| n >= 1)
            .ok_or_else(|| anyhow!("invalid number of pipes '{count}' (must be at least 1)"))?
    };
    Ok(Group { prefix, pipes })
}

/// Parses `argv[1..]` getopt style (`-p2` and `-p 2` both work). Ok(None) for `-h`.
pub fn parse(argv: &[String]) -> Result<Option<Args>> {
    let mut a = Args {
        iface: String::new(),
        groups: Vec::new(),
        extra_bufs: 0,
        batch: DEF_BATCH,
        wait_link: DEF_WAIT_LINK,
        busy_wait: false,
        stdout_interval: 0,
    };
    let mut it = argv.iter();
    while let Some(arg) = it.next() {
        let Some(opt) = arg.strip_prefix('-').and_then(|o| o.chars().next()) else {
            bail!("unexpected argument '{arg}'");
        };
        let inline = &arg[1 + opt.len_utf8()..];
        let mut value = |what: &str| -> Result<String> {
            if !inline.is_empty() {
                return Ok(inline.to_string());
            }
            it.next()
                .cloned()
                .ok_or_else(|| anyhow!("option -{opt} needs {what}"))
        };
        match opt {
            'h' => return Ok(None),
            'W' => a.busy_wait = true,
            'i' => {
                let v = value("an interface")?;
                a.iface = if v.starts_with("netmap:") || v.starts_with("vale") {
                    v
                } else {
                    format!("netmap:{v}")
                };
            }
            'p' => a.groups.push(group(&value("[prefix:]npipes")?)?),
            'B' => a.extra_bufs = num(&value("a count")?, "-B")?,
            'b' => a.batch = num::<u32>(&value("a count")?, "-b")?.max(1),
            'w' => a.wait_link = num(&value("seconds")?, "-w")?,
            'o' => a.stdout_interval = num(&value("seconds")?, "-o")?,
            _ => bail!("bad option -{opt}"),
        }
    }
    if a.iface.is_empty() {
        bail!("missing interface name (-i)");
    }
    if a.groups.is_empty() {
        a.groups.push(Group {
            prefix: None,
            pipes: DEF_OUT_PIPES,
        });
    }
    Ok(Some(a))
}

fn num<T: std::str::FromStr>(v: &str, opt: &str) -> Result<T> {
    v.parse()
        .ok()
        .with_context(|| format!("{opt}: '{v}' is not a number"))
}

/// The port's name without `netmap:` and without its suffixes (`-*^{}/@`): what the pipes of
/// a group without a prefix are named after.
pub fn base_name(iface: &str) -> &str {
    let n = iface.strip_prefix("netmap:").unwrap_or(iface);
    let end = n
        .find(['-', '*', '^', '{', '}', '/', '@'])
        .unwrap_or(n.len());
    &n[..end]
}

/// Per group, the pipe names lb opens: `netmap:NAME{ID/xT@MEM`, ids numbered on from the
/// groups before with the same name, as upstream numbers them.
pub fn pipe_names(a: &Args, mem_id: u16) -> Vec<Vec<String>> {
    let mut used: Vec<(String, u32)> = Vec::new();
    a.groups
        .iter()
        .map(|g| {
            let name = g
                .prefix
                .clone()
                .unwrap_or_else(|| base_name(&a.iface).to_string());
            let first: u32 = used
                .iter()
                .filter(|(n, _)| *n == name)
                .map(|(_, k)| k)
                .sum();
            used.push((name.clone(), g.pipes));
            let scheme = if name.starts_with("vale") {
                ""
            } else {
                "netmap:"
            };
            (0..g.pipes)
                .map(|k| format!("{scheme}{name}{{{}/xT@{mem_id}", first + k))
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Result<Option<Args>> {
        parse(&s.split_whitespace().map(String::from).collect::<Vec<_>>())
    }

    #[test]
    fn options_as_upstream_reads_them() {
        let a = args("-i eth0 -p 4 -p tap:3 -p2 -B 1000 -b 64 -w 0 -W -o 1")
            .unwrap()
            .unwrap();
        assert_eq!(a.iface, "netmap:eth0");
        assert_eq!(a.groups.len(), 3);
        assert_eq!(a.groups[1].prefix.as_deref(), Some("tap"));
        assert_eq!((a.extra_bufs, a.batch, a.wait_link), (1000, 64, 0));
        assert!(a.busy_wait);
        assert_eq!(a.stdout_interval, 1);
        let names = pipe_names(&a, 1);
        assert_eq!(names[0][3], "netmap:eth0{3/xT@1");
        assert_eq!(names[1][0], "netmap:tap{0/xT@1");
        // A second group on the same name continues its numbering.
        assert_eq!(names[2][0], "netmap:eth0{4/xT@1");
        let d = args("-i netmap:x-0").unwrap().unwrap();
        assert_eq!(
            d.groups,
            vec![Group {
                prefix: None,
                pipes: 2
            }]
        );
        assert_eq!(base_name(&d.iface), "x");
        assert!(args("-h").unwrap().is_none());
        for bad in ["-p 2", "-i x -p 0", "-i x -p :3", "-i x -Z", "-i x -b"] {
            assert!(args(bad).is_err(), "{bad}");
        }
    }
}
