//! From a discrete image to patches: interpolation kernels, the B-spline prefilter, the
//! half-sample reflection at the border, and the patch sampler itself (candle ops, and the
//! same computation in plain loops for the graph-free engine).

pub(crate) mod host;
pub(crate) mod kernel;
pub(crate) mod patch;
pub(crate) mod prefilter;
pub(crate) mod reflect;

pub use host::HostImages;
pub use patch::PatchSampler;
pub use prefilter::bspline_coefficients;
pub use reflect::reflect_index;
