//! Inverse problems solved with a continuous generative prior (FunkNN §5): the unknown image
//! is `u = FunkNN(decoder(flow(w)))`, and a solver fits `w`, then the decoder's weights, to
//! observations of `u` through any [`ForwardModel`]: line integrals ([`CtForward`]),
//! gradients ([`GradientForward`]) or a Laplacian with boundary values ([`PoissonForward`]).

mod ct;
mod forward;
mod gradient;
mod poisson;
mod solver;

pub use ct::CtForward;
pub use forward::{grid_points, points_tensor, ForwardModel};
pub use gradient::GradientForward;
pub use poisson::PoissonForward;
pub use solver::{Phase, PriorSolution, PriorSolver, PriorSolverConfig, SolverStep};
