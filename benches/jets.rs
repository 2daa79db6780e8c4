//! Forward, gradient and Laplacian jets at 65,536 points, for each network and kernel, with
//! a plain f32 GEMM measured in the same run as the yardstick.
//!
//! `cargo bench -p funknn-benches` runs everything (the CNN Laplacians take minutes);
//! `cargo bench -p funknn-benches -- mlp` runs a part.

use candle_core::{Device, Tensor};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use funknn_benches::{inputs, model, POINTS};
use funknn_core::{Activation, EvalOptions, JetOrder, KernelKind, Network};

fn gemm(c: &mut Criterion) {
    // The MLP's widest layer at this batch: 65,536 × 512 × 512.
    let a = Tensor::rand(0f32, 1., (POINTS, 512), &Device::Cpu).unwrap();
    let w = Tensor::rand(0f32, 1., (512, 512), &Device::Cpu).unwrap();
    let mut g = c.benchmark_group("gemm");
    g.sample_size(10);
    g.throughput(Throughput::Elements((2 * POINTS * 512 * 512) as u64));
    g.bench_function("f32_65536x512x512", |b| {
        b.iter(|| a.matmul(&w.t().unwrap()).unwrap())
    });
    g.finish();
}

fn jets(c: &mut Criterion) {
    let (image, points) = inputs();
    let cases: &[(Network, Activation, JetOrder)] = &[
        (Network::Mlp, Activation::Relu, JetOrder::Value),
        (Network::Mlp, Activation::Sin, JetOrder::Gradient),
        (Network::Mlp, Activation::Sin, JetOrder::Laplacian),
        (Network::Cnn, Activation::Relu, JetOrder::Value),
        (Network::Cnn, Activation::Sin, JetOrder::Gradient),
        (Network::Cnn, Activation::Sin, JetOrder::Laplacian),
    ];
    for &(network, activation, order) in cases {
        let name = format!("{network}_{activation}_{order:?}").to_lowercase();
        let mut g = c.benchmark_group(name);
        g.sample_size(10);
        g.throughput(Throughput::Elements(POINTS as u64));
        for kernel in KernelKind::ALL {
            // Bilinear has no second derivative worth the name.
            if *kernel == KernelKind::Bilinear && order.degree() == 2 {
                continue;
            }
            let m = model(network, activation, *kernel);
            g.bench_with_input(BenchmarkId::from_parameter(kernel), &order, |b, &order| {
                b.iter(|| {
                    m.evaluate(&image, &points, order, EvalOptions::default())
                        .unwrap()
                })
            });
        }
        g.finish();
    }
}

criterion_group!(benches, gemm, jets);
criterion_main!(benches);
