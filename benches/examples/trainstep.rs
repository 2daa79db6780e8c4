//! Where a training step's time goes (data, sampler, forward, backward), on a folder of
//! photographs: `cargo run --release -p funknn-benches --example trainstep -- data/photos/test`.
use candle_core::Device;
use funknn_core::train::{BatchSpec, ImageFolder};
use funknn_core::{Config, FunkNN, JetOrder, Rng};
use std::time::Instant;
fn main() {
    let dir = std::env::args().nth(1).unwrap();
    let data = ImageFolder::open(std::path::Path::new(&dir), 3, 128, 0).unwrap();
    let (model, _vars) =
        FunkNN::random(&Config::default(), 0, candle_core::DType::F32, &Device::Cpu).unwrap();
    let mut rng = Rng::new(1);
    for it in 0..4 {
        let t0 = Instant::now();
        let (images, points, targets) = data
            .sample(&BatchSpec::factor(16, 128, 512), &mut rng)
            .unwrap();
        let t1 = Instant::now();
        let patch = model
            .sampler()
            .sample(&images, &points, JetOrder::Value)
            .unwrap();
        let t2 = Instant::now();
        let value = model
            .forward_jet(&images, &points, JetOrder::Value)
            .unwrap()
            .value()
            .unwrap();
        let t3 = Instant::now();
        let loss = (value - targets)
            .unwrap()
            .abs()
            .unwrap()
            .mean_all()
            .unwrap();
        let grads = loss.backward().unwrap();
        let t4 = Instant::now();
        let t5 = Instant::now();
        let g2 = patch
            .value()
            .unwrap()
            .sqr()
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let t6 = Instant::now();
        drop((patch, grads, g2));
        println!("   sampler backward alone {:.3}s", (t6 - t5).as_secs_f64());
        println!(
            "it {it}: data {:.3}s sampler {:.3}s forward(all) {:.3}s backward {:.3}s",
            (t1 - t0).as_secs_f64(),
            (t2 - t1).as_secs_f64(),
            (t3 - t2).as_secs_f64(),
            (t4 - t3).as_secs_f64()
        );
    }
}
