//! The docs/ct.md snippet, compiled.
use funknn_inverse::*;

fn main() -> Result<()> {
    let grid = ImageGrid::square(128)?;
    let geometry = ParallelGeometry::limited_view(128)?; // 200 angles in ±70°, 128 bins
    let phantom = Phantom::shepp_logan();
    let mut y: Vec<f32> = phantom
        .sinogram(&geometry)
        .iter()
        .map(|&v| v as f32)
        .collect();
    add_noise(&mut y, 30.0, 0)?;

    let fbp = Fbp::new(grid, &geometry, FbpConfig::default())?.reconstruct(&y)?;
    let rt = RayTransform::new(grid, geometry)?; // a LinearOperator<f32> and <f64>
    let (tv, _report) = tv_reconstruct(&rt, &y, &TvConfig::default(), None)?;

    // Differentiable: a loss on the sinogram backpropagates to the image (and to whatever
    // rendered it, e.g. a FunkNN).
    let op = RayTransformOp::new(rt);
    let x = candle_core::Var::zeros(
        (128, 128),
        candle_core::DType::F32,
        &candle_core::Device::Cpu,
    )?;
    let target = candle_core::Tensor::from_vec(y, (200, 128), &candle_core::Device::Cpu)?;
    let loss = (op.forward(x.as_tensor())? - &target)?.sqr()?.sum_all()?;
    let grad = loss.backward()?; // grad of x = 2·Aᵀ(Ax − y)
    let _ = (fbp, tv, grad);
    Ok(())
}
