//! `lb` command line (see the library for the forwarding).

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let args = match lb::args::parse(&argv) {
        Ok(Some(a)) => a,
        Ok(None) => {
            print!("{}", lb::args::usage());
            return;
        }
        Err(e) => {
            eprintln!("lb: {e:#}");
            eprint!("{}", lb::args::usage());
            std::process::exit(1);
        }
    };
    if let Err(e) = lb::run::run(&args) {
        eprintln!("lb: {e:#}");
        std::process::exit(1);
    }
}
