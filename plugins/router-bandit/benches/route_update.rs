//! One training step of routing work (route 2048 rows + update with 2048 rewards, 15 languages)
//! for the three routers side by side, and for the bandit once more through the SDK's FFI
//! adapters (guest → ABI types → host, in process; the dlopen half lives in the host's
//! benches). The uniform router is the floor: it draws and learns nothing, so the ratio to it
//! is the price of the bandit's bookkeeping.

use criterion::{black_box, BenchmarkId, Criterion, Throughput};
use lrpo_core::Router;
use lrpo_router_bandit::router_from_json;
use lrpo_router_conformance::workload::{bench_config, bench_workload};
use lrpo_sdk::router::{GuestRouter, HostRouter};
use std::path::PathBuf;

const ROUTERS: [&str; 4] = ["lrpo-bandit", "lrpo-bandit-ffi", "thompson", "uniform"];

fn config(component: &str) -> serde_json::Value {
    match component {
        "lrpo-bandit" | "lrpo-bandit-ffi" => bench_config(),
        "thompson" => serde_json::json!({ "orig_lang_min": 2, "update_every": 5 }),
        _ => serde_json::json!({ "orig_lang_min": 2 }),
    }
}

fn route_update(c: &mut Criterion) {
    let (request, feedback) = bench_workload();
    let rows = (request.groups.len() * request.n) as u64;
    let mut group = c.benchmark_group("route_update_2048x15");
    group.throughput(Throughput::Elements(rows));
    for component in ROUTERS {
        let mut router: Box<dyn Router> = match component.strip_suffix("-ffi") {
            Some(inner) => {
                let guest = GuestRouter::boxed(router_from_json(inner, "bench", config(component)).unwrap(), "bench");
                Box::new(HostRouter::new(guest).unwrap())
            }
            None => router_from_json(component, "bench", config(component)).unwrap(),
        };
        let mut step = 0u64;
        group.bench_with_input(BenchmarkId::from_parameter(component), &request, |b, request| {
            b.iter(|| {
                step += 1;
                let picks = router.route(black_box(request)).unwrap();
                let update = router.update(step, black_box(&feedback)).unwrap();
                black_box((picks, update))
            })
        });
    }
    group.finish();
}

/// Criterion's point estimate of the time per iteration (slope of the linear fit, else the mean),
/// in ns, read back from its own report files.
fn mean_ns(component: &str) -> Option<f64> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let path = target.join("criterion/route_update_2048x15").join(component).join("new/estimates.json");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    json["slope"]["point_estimate"].as_f64().or_else(|| json["mean"]["point_estimate"].as_f64())
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    route_update(&mut criterion);
    criterion.final_summary();
    let Some(floor) = mean_ns("uniform") else {
        println!("(no criterion estimates found; ratios not printed)");
        return;
    };
    println!("\nroute + update, 2048 rows x 15 languages, per training step:");
    for component in ROUTERS {
        if let Some(ns) = mean_ns(component) {
            println!(
                "  {component:<16} {:>9.1} us  {:>6.2} M rows/s  ratio to uniform {:.2}",
                ns / 1e3,
                2048.0 / ns * 1e3,
                ns / floor
            );
        }
    }
    if let (Some(direct), Some(ffi)) = (mean_ns("lrpo-bandit"), mean_ns("lrpo-bandit-ffi")) {
        println!("  lrpo-bandit through the FFI adapters / direct: {:.3}", ffi / direct);
    }
}
