"""Times one training step of the official FunkNN code, for comparison with
`benches/train.rs` (64 images x 512 points, 128^2 images, factor mode, L1, Adam).

The official repository is not part of funknn. Check it out beside this one:

    git clone https://github.com/swing-research/FunkNN && git -C FunkNN checkout 6fba0bf
    python -m venv venv && venv/bin/pip install torch==2.15.0 numpy
    venv/bin/python benches/official/train_step.py --official FunkNN --network MLP --steps 7

It imports the official `FunkNN` class unchanged. `config_funknn` is supplied from here
instead of being edited, set to the relu activation and the bicubic kernel. The step is
the body of the inner loop of the official `train_funknn.py`:
- the factor-mode training strategy;
- 512 random pixels of the high-resolution grid;
- the model, the L1 loss, backward and `Adam.step`.
Its two helpers are restated below because the official `utils.py` imports torchvision,
scikit-image and SciPy. Prints each step's wall time and the median of the steps after the
first.
"""

import argparse
import statistics
import sys
import time
import types

import numpy as np
import torch
import torch.nn.functional as F


def pixel_grid(side):
    """Pixel coordinates (row, col) of a side x side grid, i/side - 1/2 (official get_mgrid)."""
    ij = np.stack(np.mgrid[:side, :side], axis=-1).astype(np.float32)
    return torch.from_numpy(ij / side - 0.5).view(-1, 2)


def factor_pair(images, image_size):
    """Official factor mode: a random low size n in [N/8, N/2), target at 2n, both
    antialiased bilinear downsamples of the batch."""
    low = int(np.random.randint(low=image_size // 8, high=image_size // 2))
    high = 2 * low
    x_high = F.interpolate(images, size=high, antialias=True, mode="bilinear")
    x_low = F.interpolate(images, size=low, antialias=True, mode="bilinear")
    return x_high, x_low, high


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official", required=True, help="checkout of swing-research/FunkNN")
    parser.add_argument("--network", choices=["MLP", "CNN"], default="MLP")
    parser.add_argument("--steps", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    config = types.ModuleType("config_funknn")
    config.network = args.network
    config.activation = "relu"
    config.interpolation_kernel = "bicubic"
    sys.modules["config_funknn"] = config
    sys.path.insert(0, args.official)
    from funknn_model import FunkNN  # noqa: E402 (needs the path and config above)

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    np.random.seed(0)
    image_size, channels, batch, pixels = 128, 3, 64, 512
    model = FunkNN(c=channels)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    images = torch.rand(batch, channels, image_size, image_size)
    times = []
    for step in range(args.steps):
        start = time.perf_counter()
        x_high, x_low, high = factor_pair(images, image_size)
        coords = pixel_grid(high).unsqueeze(0).expand(batch, -1, -1)
        x_high = x_high.permute(0, 2, 3, 1).reshape(batch, high * high, channels)
        optimizer.zero_grad()
        chosen = np.random.randint(low=0, high=high * high, size=pixels)
        out = model(coords[:, chosen], x_low)
        loss = F.l1_loss(out.reshape(batch, -1), x_high[:, chosen].reshape(batch, -1))
        loss.backward()
        optimizer.step()
        loss.item()
        times.append(time.perf_counter() - start)
        print(f"step {step}: {times[-1]:.3f} s", flush=True)
    if len(times) > 1:
        print(f"median of steps 1..{len(times) - 1}: {statistics.median(times[1:]):.3f} s")


if __name__ == "__main__":
    main()
