//! Quick wall-clock figures without criterion: `cargo run --release -p funknn-benches --example quick`.
use funknn_benches::{inputs, model, POINTS};
use funknn_core::{Activation, EvalOptions, JetOrder, KernelKind, Network};
use std::time::Instant;

fn main() {
    let (image, points) = inputs();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let net: Network = args
        .first()
        .map(|s| s.parse().unwrap())
        .unwrap_or(Network::Mlp);
    let act: Activation = args
        .get(1)
        .map(|s| s.parse().unwrap())
        .unwrap_or(Activation::Relu);
    let kernel: KernelKind = args
        .get(2)
        .map(|s| s.parse().unwrap())
        .unwrap_or(KernelKind::Bicubic);
    let order: JetOrder = args
        .get(3)
        .map(|s| s.parse().unwrap())
        .unwrap_or(JetOrder::Value);
    let n: usize = args.get(4).map(|s| s.parse().unwrap()).unwrap_or(POINTS);
    let threads: usize = args.get(5).map(|s| s.parse().unwrap()).unwrap_or(0);
    let chunk_points: usize = args.get(6).map(|s| s.parse().unwrap()).unwrap_or(0);
    let pts = points.narrow(1, 0, n).unwrap();
    let m = model(net, act, kernel);
    let opts = EvalOptions {
        chunk_points,
        threads,
    };
    m.evaluate(&image, &pts, order, opts).unwrap();
    // Best of three: this VM's timings are noisy.
    let mut s = f64::INFINITY;
    for _ in 0..3 {
        let t = Instant::now();
        m.evaluate(&image, &pts, order, opts).unwrap();
        s = s.min(t.elapsed().as_secs_f64());
    }
    let gf = funknn_benches::flops_per_point(net) * order.parts() as f64 * n as f64 / s / 1e9;
    println!(
        "{net} {act} {kernel} {order:?}: {:.0} px/s, {gf:.1} GFLOP/s",
        n as f64 / s
    );
    if std::env::var("QUICK_SAMPLER").is_ok() {
        let chunk = 4096.min(n);
        let p = pts.narrow(1, 0, chunk).unwrap();
        let t = Instant::now();
        for _ in 0..n / chunk {
            m.sampler().sample(&image, &p, order).unwrap();
        }
        println!(
            "sampler alone (1 thread, chunks of {chunk}): {:.3} s",
            t.elapsed().as_secs_f64()
        );
    }
}
