//! Minimum and median wall time of the autoencoder training step (batch 64, grey, the
//! official widths), steadier than criterion's mean on a noisy VM for comparing two builds:
//! `cargo run --release -p funknn-benches --example ae_step -- [RESOLUTION] [STEPS]`
use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    funknn_benches::tune_runtime();
    let a: Vec<String> = std::env::args().collect();
    let resolution: usize = a.get(1).map_or(Ok(64), |s| s.parse())?;
    let steps: usize = a.get(2).map_or(Ok(12), |s| s.parse())?;
    let mut t = funknn_benches::generator_trainer(resolution, false, 1.0);
    let data = funknn_benches::noise_images(resolution);
    t.step(&data)?;
    let mut times = Vec::new();
    for _ in 0..steps {
        let s = Instant::now();
        t.step(&data)?;
        times.push(s.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    println!(
        "autoencoder step {resolution}²: min {:.3} s, median {:.3} s",
        times[0],
        times[times.len() / 2]
    );
    Ok(())
}
