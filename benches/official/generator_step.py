"""Times the official generator code, for comparison with `benches/generator.rs`.

The official repository is not part of funknn. Check it out beside this one:

    git clone https://github.com/swing-research/FunkNN && git -C FunkNN checkout 6fba0bf
    python -m venv venv && venv/bin/pip install torch==2.15.0 numpy
    venv/bin/python benches/official/generator_step.py --official FunkNN --threads 2

It imports the official `encoder`, `decoder` and `real_nvp` classes unchanged and times:
- one autoencoder training step (batch 64, grey, 64^2 and 32^2): encoder, decoder, MSE plus
  the 0.01 latent L2 penalty (the official VGG style loss is left out, as in funknn),
  backward, `Adam.step`; with `--pyramid`, also the official `LaplacianPyramidLoss`
  (3 levels, kernel 5, sigma 1, weight 1), which funknn's step adds by default;
- one flow training step (batch 64, latent 256, depth 5): the negative log-likelihood,
  backward, `Adam.step`;
- decoding a batch of 64 latents at 64^2 (no gradient).
Prints the median wall time of each over the steps after the first.
"""

import argparse
import statistics
import sys
import time

import torch


def median_time(fn, steps):
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times[1:]) if len(times) > 1 else times[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--official", required=True, help="checkout of swing-research/FunkNN")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--only", default="all", help="all | ae64 | ae32 | flow | decode")
    ap.add_argument("--pyramid", action="store_true",
                    help="add the official Laplacian-pyramid loss to the autoencoder step")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    sys.path.insert(0, args.official)
    from autoencoder_model import encoder, decoder
    from flow_model import real_nvp
    from laplacian_loss import LaplacianPyramidLoss

    torch.manual_seed(0)
    batch, latent = 64, 256

    def ae_step(res):
        enc = encoder(latent_dim=latent, in_res=res, c=1)
        dec = decoder(latent_dim=latent, in_res=res, c=1)
        params = list(enc.parameters()) + list(dec.parameters())
        opt = torch.optim.Adam(params, lr=1e-4)
        x = torch.rand(batch, 1, res, res)
        pyramid = LaplacianPyramidLoss(max_levels=3, channels=1, kernel_size=5, sigma=1)

        def step():
            opt.zero_grad()
            z = enc(x)
            y = dec(z)
            loss = torch.mean((y - x) ** 2) + 0.01 * torch.mean(z ** 2)
            if args.pyramid:
                loss = loss + pyramid(y, x)
            loss.backward()
            opt.step()

        return median_time(step, args.steps)

    if args.only in ("all", "ae64"):
        print(f"autoencoder step, batch 64, grey 64^2: {ae_step(64):.3f} s", flush=True)
    if args.only in ("all", "ae32"):
        print(f"autoencoder step, batch 64, grey 32^2: {ae_step(32):.3f} s", flush=True)
    if args.only in ("all", "flow"):
        flow = real_nvp(latent_dim=latent, K=5)
        opt = torch.optim.Adam(flow.parameters(), lr=1e-4, weight_decay=1e-5)
        z = torch.randn(batch, latent)
        flow.log_prob(z)  # ActNorm's data-dependent initialisation

        def fstep():
            opt.zero_grad()
            loss = -torch.mean(flow.log_prob(z))
            loss.backward()
            opt.step()

        t = median_time(fstep, max(args.steps, 20))
        print(f"flow step, batch 64, latent 256, depth 5: {1e3 * t:.1f} ms", flush=True)
    if args.only in ("all", "decode"):
        dec = decoder(latent_dim=latent, in_res=64, c=1)
        z = torch.randn(batch, latent)

        def decode():
            with torch.no_grad():
                dec(z)

        print(f"decode, batch 64, 64^2: {median_time(decode, args.steps):.3f} s", flush=True)


if __name__ == "__main__":
    main()
