//! The harness itself: without memcached, tests fail loudly and say how to install it.

use crate::Memcached;

#[test]
fn a_missing_memcached_fails_with_install_instructions() {
    if std::env::var_os("MCASIDE_HARNESS_PROBE").is_some() {
        // The inner run: $MEMCACHED points nowhere, so this must panic.
        let _server = Memcached::start();
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "harness::a_missing_memcached_fails_with_install_instructions",
        ])
        .args(["--nocapture", "--test-threads=1"])
        .env("MCASIDE_HARNESS_PROBE", "1")
        .env("MEMCACHED", "/nonexistent/memcached")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the inner run must fail:\n{text}");
    assert!(text.contains("apt-get install -y memcached"), "{text}");
}
