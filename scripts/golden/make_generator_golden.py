#!/usr/bin/env python3
"""Golden files for the FunkNN generator networks (encoder, decoder, real_nvp flow).

Uses the OFFICIAL classes from a checkout of swing-research/FunkNN @ 6fba0bf (first argument),
imported via sys.path; nothing of their code is copied here.  Every parameter is
overwritten by a deterministic integer-hash formula (see weight_formula) so that the
Rust port can rebuild identical weights without a checkpoint.

Run:  python make_generator_golden.py OFFICIAL_CHECKOUT OUT_DIR
      (PyTorch 2.15, numpy, safetensors; OFFICIAL_CHECKOUT a work tree of
      swing-research/FunkNN at 6fba0bf that you provide; the project's files are
      tests/fixtures/golden-gen/, see its README.txt)
"""
import os
import sys
import math
import json

OFFICIAL = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else "official-funknn"
SOURCE_COMMIT = "6fba0bf"
sys.path.insert(0, OFFICIAL)
os.makedirs(sys.argv[2] if len(sys.argv) > 2 else ".", exist_ok=True)
os.chdir(sys.argv[2] if len(sys.argv) > 2 else ".")

import numpy as np
import torch
from safetensors.torch import save_file

torch.set_num_threads(1)

# funknn_model imports config_funknn (a plain python file of constants in the official
# tree) -- it imports fine, no stub needed.  normflow prints a harmless warning about
# the optional residual_flows dependency.
from autoencoder_model import encoder, decoder  # noqa: E402
from flow_model import real_nvp  # noqa: E402
import normflow as nf  # noqa: E402

OUT = {}
LOG = {}  # per network: list of (key, shape, action)


def weight_formula(shape):
    """Deterministic weights: float64 computation, then cast to float32."""
    shape = tuple(int(s) for s in shape)
    n = int(np.prod(shape)) if len(shape) > 0 else 1
    j = np.arange(n, dtype=np.uint64)
    h = ((j + np.uint64(1)) * np.uint64(2654435761) + np.uint64(n * 97)) % np.uint64(2 ** 32)
    x = h.astype(np.float64) / float(2 ** 32)
    if len(shape) >= 2:
        fan_in = n // shape[0]
        v = (2.0 * x - 1.0) * math.sqrt(6.0 / fan_in)
    else:
        v = (2.0 * x - 1.0) * 0.1
    return torch.from_numpy(v.astype(np.float32).reshape(shape))


def apply_formula(model, name):
    """Overwrite every state_dict tensor (parameters and buffers) with the formula,
    except MaskedAffineFlow masks `b` (kept) and ActNorm `data_dep_init_done` (set to 1)."""
    masks = set()
    actnorm_flags = set()
    for mname, mod in model.named_modules():
        pre = (mname + ".") if mname else ""
        if isinstance(mod, nf.flows.MaskedAffineFlow):
            masks.add(pre + "b")
        if isinstance(mod, nf.flows.ActNorm):
            actnorm_flags.add(pre + "data_dep_init_done")
    params = set(k for k, _ in model.named_parameters())
    log = []
    with torch.no_grad():
        sd = model.state_dict()  # tensors share storage with the module
        for k, t in sd.items():
            if k in masks:
                log.append((k, list(t.shape), "kept (MaskedAffineFlow mask buffer)"))
            elif k in actnorm_flags:
                t.fill_(1.0)
                log.append((k, list(t.shape), "set to 1.0 (ActNorm init flag buffer)"))
            elif k in params:
                t.copy_(weight_formula(t.shape))
                log.append((k, list(t.shape), "formula"))
            else:
                log.append((k, list(t.shape), "UNEXPECTED BUFFER kept as constructed"))
                print("WARNING unexpected buffer", name, k, file=sys.stderr)
    # check that the module really sees the new values
    for k, t in model.state_dict().items():
        if k not in masks and k not in actnorm_flags:
            assert torch.equal(t, weight_formula(t.shape)), k
    LOG[name] = log
    return model


def gen(seed):
    return torch.Generator().manual_seed(seed)


def stats(name, t):
    t = t.double()
    print(f"  {name:28s} shape={list(t.shape)} min={t.min().item():.4g} max={t.max().item():.4g} "
          f"mean={t.mean().item():.4g} std={t.std().item():.4g} finite={bool(torch.isfinite(t).all())}")


# ---------------------------------------------------------------- decoders
z = torch.randn(3, 256, generator=gen(1))
for tag, (res, c) in {"decoder64c1": (64, 1), "decoder64c3": (64, 3), "decoder128c1": (128, 1)}.items():
    dec = apply_formula(decoder(latent_dim=256, in_res=res, c=c), tag).eval()
    with torch.no_grad():
        out = dec(z)
        after_mlp = torch.relu(dec.mlps[0](z))
    OUT[f"{tag}.z"] = z.clone()
    OUT[f"{tag}.after_mlp"] = after_mlp  # relu(Linear(z)), before reshape to [b,256,2,2]
    OUT[f"{tag}.out"] = out
    print(tag)
    stats("out", out)
    if tag == "decoder64c1":
        torch.save(dec.state_dict(), "/tmp/decoder_size_probe.pt")
        sz = os.path.getsize("/tmp/decoder_size_probe.pt")
        os.remove("/tmp/decoder_size_probe.pt")
        LOG["decoder_pt_size"] = sz
        print("  decoder64c1 state_dict .pt size:", sz)
        if sz < 1_000_000:
            torch.save(dec.state_dict(), "decoder.pt")

# ---------------------------------------------------------------- encoders
for tag, (res, c) in {"encoder64c1": (64, 1), "encoder64c3": (64, 3), "encoder128c1": (128, 1)}.items():
    enc = apply_formula(encoder(latent_dim=256, in_res=res, c=c), tag).eval()
    x = torch.rand(2, c, res, res, generator=gen(2))
    with torch.no_grad():
        out = enc(x)
    OUT[f"{tag}.x"] = x
    OUT[f"{tag}.out"] = out
    print(tag)
    stats("out", out)


# ---------------------------------------------------------------- flows
def flow_golden(tag, latent_dim, K, seed, save_pt=None):
    nfm = apply_formula(real_nvp(latent_dim, K=K), tag).eval()
    w = torch.randn(4, latent_dim, generator=gen(seed))
    with torch.no_grad():
        x = nfm.sample_me(w)
        # forward (base -> data) with log-det and intermediates
        zz = w
        log_det = torch.zeros(len(w))
        inter = []
        for f in nfm.flows:
            zz, ld = f(zz)
            log_det = log_det + ld
            inter.append(zz.clone())
        assert torch.equal(zz, x)
        # inverse (data -> base), as forward_kld / log_prob do
        zb = x
        inv_log_det = torch.zeros(len(x))
        for i in range(len(nfm.flows) - 1, -1, -1):
            zb, ld = nfm.flows[i].inverse(zb)
            inv_log_det = inv_log_det + ld
        lp = nfm.log_prob(x)
        base_lp = nfm.q0.log_prob(w)
        base_lp_back = nfm.q0.log_prob(zb)
        kld = nfm.forward_kld(x)
    OUT[f"{tag}.w"] = w
    OUT[f"{tag}.x"] = x
    OUT[f"{tag}.w_back"] = zb
    OUT[f"{tag}.log_prob"] = lp
    OUT[f"{tag}.base_log_prob"] = base_lp
    OUT[f"{tag}.base_log_prob_w_back"] = base_lp_back
    OUT[f"{tag}.log_det"] = log_det
    OUT[f"{tag}.inv_log_det"] = inv_log_det
    OUT[f"{tag}.forward_kld"] = kld.reshape(1)
    for i, t in enumerate(inter):
        OUT[f"{tag}.fwd.{i}"] = t
    print(tag, "temperature:", nfm.q0.temperature)
    for nm in ["w", "x", "w_back", "log_prob", "base_log_prob", "log_det", "inv_log_det"]:
        stats(nm, OUT[f"{tag}.{nm}"])
    print("  max|w_back-w| =", (zb - w).abs().max().item(),
          " max|log_prob-(base_lp(w_back)+inv_log_det)| =",
          (lp - (base_lp_back + inv_log_det)).abs().max().item(),
          " max|log_prob-(base_lp(w)-log_det)| =", (lp - (base_lp - log_det)).abs().max().item())
    if save_pt:
        torch.save(nfm.state_dict(), save_pt)
    return nfm


flow_golden("flow256", 256, 5, 3)
flow_golden("flow16", 16, 3, 4, save_pt="flow_small.pt")

# ---------------------------------------------------------------- formula check values
for key, shape in [("decoder64c1.t_CNNs.0.weight", (256, 256, 3, 3)),
                   ("decoder64c1.mlps.0.weight", (1024, 256)),
                   ("decoder64c1.mlps.0.bias", (1024,)),
                   ("flow256.flows.1.s", (1, 256))]:
    OUT[f"formula.{key}"] = weight_formula(shape).reshape(-1)[:8].clone()

# ---------------------------------------------------------------- save
OUT = {k: v.detach().to(torch.float32).contiguous() for k, v in OUT.items()}
meta = {
    "source": "swing-research/FunkNN",
    "source_commit": SOURCE_COMMIT,
    "torch_version": torch.__version__,
    "numpy_version": np.__version__,
    "script": "make_generator_golden.py",
    "weights": "integer-hash formula, see README.txt",
}
save_file(OUT, "generator_golden.safetensors", metadata=meta)

with open("state_dict_keys.json", "w") as f:
    json.dump(LOG, f, indent=1)
print("saved", len(OUT), "tensors; torch", torch.__version__)
