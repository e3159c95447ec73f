//! `--wire`: the library's TRACE-level wire log (`mcaside::wire`), printed bare to
//! stderr, one line per write (`>`) or read (`<`).

pub fn install() {
    tracing_subscriber::fmt()
        .with_env_filter("mcaside::wire=trace")
        .without_time()
        .with_target(false)
        .with_level(false)
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .init();
}
