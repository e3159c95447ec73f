//! End to end, with criterion: mcaside, async-memcached and the memcache crate, each
//! against the same memcached that this bench starts, in the same run, with
//! per-request times and confidence intervals. A quick check while working on the
//! request path: all three share this process and its cores, so its figures are not
//! the fair comparison; that is `compare.rs` (a process per client, pinned away from
//! memcached, values checked, a raw reference), which the README's tables come from.
//!
//! `cargo bench --bench e2e`. Groups: one task doing sequential gets; 64 tasks doing
//! gets; 64 tasks doing sets; one task doing 100-key multi-gets.

#[path = "../tests/support/server.rs"]
mod server;

#[path = "support/peers.rs"]
mod peers;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use peers::{Budget, Peer, Workload};

fn e2e(c: &mut Criterion) {
    let server = server::Memcached::start_with(&["-t", "1"]);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(peers::preload(&server.addr));
    let groups = [
        ("get_1_task", Workload::Get, 1, 1),
        ("get_64_tasks", Workload::Get, 64, 4),
        ("set_64_tasks", Workload::Set, 64, 4),
        ("multiget_100_keys_1_task", Workload::MultiGet100, 1, 1),
    ];
    for (name, workload, tasks, mcaside_connections) in groups {
        let mut group = c.benchmark_group(name);
        let per_request = if workload == Workload::MultiGet100 {
            100
        } else {
            1
        };
        group.throughput(Throughput::Elements(per_request));
        for peer in [
            Peer::Mcaside {
                connections: mcaside_connections,
            },
            Peer::AsyncMemcached,
            Peer::Memcache,
        ] {
            let mut clients = runtime.block_on(peers::connect(peer, &server.addr, tasks));
            group.bench_function(peer.name(), |b| {
                b.iter_custom(|iters| {
                    // `iters` requests in all, spread over the tasks: the time per
                    // iteration is the inverse of the throughput.
                    // With fewer iterations than tasks, every task still makes one request;
                    // scale the time back to `iters` requests.
                    let requests = iters.max(tasks as u64);
                    let sample = runtime.block_on(peers::run(
                        &mut clients,
                        workload,
                        tasks,
                        Budget::Requests(requests),
                    ));
                    sample.elapsed.mul_f64(iters as f64 / requests as f64)
                })
            });
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(5));
    targets = e2e
}
criterion_main!(benches);
