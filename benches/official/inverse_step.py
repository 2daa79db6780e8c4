"""Times the official inverse-problem loops, for comparison with `benches/inverse.rs`.

The official repository is not part of funknn. Check it out beside this one, with torch and
astra-toolbox (for the projector) in a venv:

    git clone https://github.com/swing-research/FunkNN && git -C FunkNN checkout 6fba0bf
    python -m venv venv && venv/bin/pip install torch==2.15.0 numpy astra-toolbox==2.5.0
    venv/bin/python benches/official/inverse_step.py --official FunkNN ct 128
    venv/bin/python benches/official/inverse_step.py --official FunkNN gradient
    venv/bin/python benches/official/inverse_step.py --official FunkNN laplacian

It imports the official `FunkNN`, `encoder`/`decoder` and `real_nvp` classes unchanged,
random weights, and times one iteration of the loops of `IP_solver.py`:
- `ct N`: `limited_view_CT` at working size N (generator 64², grey, MLP ReLU FunkNN with the
  bicubic kernel): decoder(flow(z)), FunkNN at every pixel centre, the ray transform, MSE,
  backward, Adam. ASTRA's CPU `linear` (Joseph) projector replaces `astra_cuda`, wrapped in
  an autograd function whose backward is the back-projection, as ODL's `OperatorFunction`.
- `gradient` / `laplacian`: `inverting_derivatives` (generator 64², RGB, sine MLP FunkNN,
  `cubic_conv` kernel): 10,000 random pixels, ∇u (or Δu) by nested autograd, MSE plus the
  TV term `mean |∇u|₁`, backward, Adam.
Its `utils.py` helpers (`get_mgrid`, `gradient`, `laplace`) are restated below, because that
module imports torchvision, scikit-image and SciPy. Prints the median and minimum wall time
over the iterations after the first, on 2 threads.
"""
# gradient loss; and a Laplacian loss). Not committed: it imports the official code.
import argparse
import sys
import time

parser = argparse.ArgumentParser()
parser.add_argument('--official', required=True, help='checkout of swing-research/FunkNN')
parser.add_argument('--threads', type=int, default=2)
parser.add_argument('--reps', type=int, default=5)
parser.add_argument('--astra-path', help='extra site-packages holding astra, if not installed here')
parser.add_argument('problem', choices=['ct', 'gradient', 'laplacian'])
parser.add_argument('size', type=int, nargs='?', default=128)
args = parser.parse_args()
sys.path.insert(0, args.official)
import numpy as np
import torch
torch.set_num_threads(args.threads)
which = args.problem
N = args.size
import config_funknn
config_funknn.network = 'MLP'
config_funknn.activation = 'relu' if which == 'ct' else 'sin'
config_funknn.interpolation_kernel = 'bicubic' if which == 'ct' else 'cubic_conv'
from funknn_model import FunkNN
from autoencoder_model import encoder, decoder, autoencoder
from flow_model import real_nvp


# The official utils.py helpers, restated: that module imports torchvision, scikit-image
# and SciPy, which the timing does not need.
def get_mgrid(side):
    ij = np.stack(np.mgrid[:side, :side], axis=-1)[None, ...].astype(np.float32)
    return torch.Tensor(ij / side - 0.5).view(-1, 2)


def gradient(y, x):
    return torch.autograd.grad(y, [x], grad_outputs=torch.ones_like(y), create_graph=True)[0]


def laplace(y, x):
    g = gradient(y, x)
    div = 0.0
    for i in range(g.shape[-1]):
        div += torch.autograd.grad(g[..., i], x, torch.ones_like(g[..., i]), create_graph=True)[0][..., i:i + 1]
    return div

torch.manual_seed(0)
c = 1 if which == 'ct' else 3
res, latent = 64, 256
funknn = FunkNN(c=c)
aeder = autoencoder(encoder=encoder(latent_dim=latent, in_res=res, c=c),
                    decoder=decoder(latent_dim=latent, in_res=res, c=c))
flow = real_nvp(latent_dim=latent, K=5)
z = torch.nn.Parameter(flow.q0.loc.detach().clone() * 0 + flow.q0.loc.detach())

if which == 'ct':
    if args.astra_path:
        sys.path.insert(0, args.astra_path)
    import astra
    angles = np.linspace(-70, 70, 201)[:-1] + 70 / 200
    angles = np.deg2rad(angles)
    vol = astra.create_vol_geom(N, N)
    proj = astra.create_proj_geom('parallel', 1.0, N, angles)
    pid = astra.create_projector('linear', proj, vol)
    def fp(x):
        i, y = astra.create_sino(x.astype(np.float32), pid)
        astra.data2d.delete(i)
        return y
    def bp(y):
        i, x = astra.create_backprojection(y.astype(np.float32), pid)
        astra.data2d.delete(i)
        return x
    class Op(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return torch.from_numpy(fp(x.detach().numpy()[0]))[None]
        @staticmethod
        def backward(ctx, g):
            return torch.from_numpy(bp(g.numpy()[0]))[None]
    y_obs = torch.randn(1, 200, N)
    opt = torch.optim.Adam([z], lr=1e-1)
    def step():
        coords = get_mgrid(N).reshape(-1, 2)[None].clone().detach().requires_grad_(True)
        opt.zero_grad()
        img = aeder.decoder(flow.sample_me(z))
        est = funknn(coords, img)
        im_est = torch.reshape(est[:, :, 0:1], (1, N, N))
        loss = torch.nn.functional.mse_loss(y_obs, Op.apply(im_est))
        loss.backward()
        opt.step()
else:
    lap = which == 'laplacian'
    image_size = 128
    opt = torch.optim.Adam([z], lr=1e-2)
    y = torch.randn(1, 10000, 1 if lap else 2)  # autograd sums the channels, as the official loss
    def step():
        coords = get_mgrid(image_size).reshape(-1, 2)[None].clone().detach().requires_grad_(True)
        pixels = np.random.randint(low=0, high=image_size ** 2, size=10000)
        batch_coords = coords[:, pixels]
        opt.zero_grad()
        img = aeder.decoder(flow.sample_me(z))
        u = funknn(batch_coords, img)
        if lap:
            y_hat = laplace(u, batch_coords)
        else:
            y_hat = gradient(u, batch_coords)
        reg = torch.mean(torch.norm(gradient(u, batch_coords) if lap else y_hat, p=1, dim=2))
        loss = torch.nn.functional.mse_loss(y, y_hat) + reg
        loss.backward()
        opt.step()

step()
times = []
reps = args.reps
for _ in range(reps):
    t = time.perf_counter(); step(); times.append(time.perf_counter() - t)
print(f'{which} N={N}: median {np.median(times):.3f} s, min {min(times):.3f} s over {reps}')
