//! Cost of the plugin boundary: one router call through the FFI adapters (host adapter ->
//! abi_stable trait object -> guest adapter, with the data converted both ways) against the
//! same call on the plain Rust object, for batches of 1 and 2048 rows.
//!
//! Run: `cargo bench -p lrpo-sdk --bench ffi_router`

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use lrpo_core::*;
use lrpo_sdk::router::{GuestRouter, HostRouter};

/// A cheap router, so the boundary cost is not hidden behind real work: copy k of a group
/// gets language (group_id + k) mod L; updates keep a running mean per language.
struct Cycle {
    langs: Vec<Lang>,
    sums: Vec<f64>,
}

impl Router for Cycle {
    fn languages(&self) -> Vec<Lang> {
        self.langs.clone()
    }
    fn route(&mut self, r: &RouteRequest) -> Result<Vec<Vec<Lang>>> {
        let l = self.langs.len() as u64;
        Ok(r.groups
            .iter()
            .map(|g| (0..r.n as u64).map(|k| self.langs[((g.group_id + k) % l) as usize].clone()).collect())
            .collect())
    }
    fn update(&mut self, _: u64, fb: &[RouteFeedback]) -> Result<RouterUpdate> {
        for f in fb {
            if let Some(i) = self.langs.iter().position(|l| *l == f.lang) {
                self.sums[i] += f.reward;
            }
        }
        Ok(RouterUpdate::default())
    }
    fn save_state(&self) -> Result<Vec<u8>> {
        Ok(vec![])
    }
    fn load_state(&mut self, _: &[u8]) -> Result<()> {
        Ok(())
    }
}

fn cycle() -> Cycle {
    let langs = default_languages();
    Cycle { sums: vec![0.0; langs.len()], langs }
}

/// `rows` rollouts: groups of 8 (one group of 1 for a single row).
fn workload(rows: usize) -> (RouteRequest, Vec<RouteFeedback>) {
    let n = rows.min(8);
    let topics =
        ["General Knowledge", "Regional Knowledge", "Reasoning / Logic", "Safety / Ethics", "Chat / Conversational"];
    let langs = default_languages();
    let groups: Vec<RouteContext> = (0..rows / n)
        .map(|i| RouteContext {
            group_id: i as u64,
            topic: topics[i % topics.len()].into(),
            region: (i % 5 == 1).then(|| "Japan".to_string()),
            orig_lang: langs[i % langs.len()].clone(),
            fixed_lang: None,
        })
        .collect();
    let feedback = (0..rows)
        .map(|i| RouteFeedback {
            topic: groups[i / n].topic.clone(),
            region: groups[i / n].region.clone(),
            lang: langs[i % langs.len()].clone(),
            reward: (i % 10) as f64 / 10.0,
        })
        .collect();
    (RouteRequest { step: 1, n, training: true, groups }, feedback)
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("router_route_update");
    for rows in [1usize, 2048] {
        let (req, fb) = workload(rows);
        let mut plain: Box<dyn Router> = Box::new(cycle());
        let mut ffi: Box<dyn Router> =
            Box::new(HostRouter::new(GuestRouter::boxed(Box::new(cycle()), "cycle")).unwrap());
        g.bench_with_input(BenchmarkId::new("plain", rows), &rows, |b, _| {
            b.iter(|| {
                black_box(plain.route(black_box(&req)).unwrap());
                black_box(plain.update(1, black_box(&fb)).unwrap());
            })
        });
        g.bench_with_input(BenchmarkId::new("ffi", rows), &rows, |b, _| {
            b.iter(|| {
                black_box(ffi.route(black_box(&req)).unwrap());
                black_box(ffi.update(1, black_box(&fb)).unwrap());
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
