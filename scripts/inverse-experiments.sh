#!/usr/bin/env bash
# inverse-experiments.sh: the tables of docs/inverse.md, from the funknn binary alone.
#
#   scripts/inverse-experiments.sh PROBLEM OUT [COUNT] [FIRST]
#
# PROBLEM is ct, ellipses, sparse-gradient, noisy-gradient or poisson. For each of COUNT
# images (default 20; Fashion-MNIST test images FIRST, FIRST+1, ... (default 0), padded to
# 32²; random-ellipse phantoms with seeds FIRST... for `ellipses`) it simulates the data at
# 128², runs the classical baselines and the generative prior, and appends one line per
# method to OUT/results.csv: image,method,psnr,ssim,seconds. Extra arguments for the prior go
# in $PRIOR_ARGS, the λ grids in $TV_LAMBDAS / $TIKHONOV_LAMBDAS. $METHODS (e.g. "fbp prior")
# runs only the methods it names: the data are simulated deterministically, so a new prior
# needs only its own rows beside the committed baselines (check one cheap baseline's scores
# against them).
#
# Needs: a release build (cargo build --release -p funknn-cli) or $FUNKNN; Debian's
# dataset-fashion-mnist for the garments. CT images are in --noise-snr 30 dB, the geometry
# the official one (200 angles in ±70°, 128 bins).
set -euo pipefail
problem=${1:?problem: ct, ellipses, sparse-gradient, noisy-gradient or poisson}
out=${2:?output folder}
count=${3:-20}
first=${4:-0}
root=$(cd "$(dirname "$0")/.." && pwd)
funknn=${FUNKNN:-$root/target/release/funknn}
n=128
mkdir -p "$out"
csv=$out/results.csv
[ -f "$csv" ] || echo "image,method,lambda,psnr,ssim,seconds" > "$csv"

# run IMAGE METHOD LAMBDA COMMAND...: times the command, appends its PSNR and SSIM (of the
# image clipped to [0, 1], as the PNG holds it; the raw scores are in OUT/log.txt).
run() {
  local image=$1 method=$2 lambda=$3; shift 3
  [ -z "${METHODS:-}" ] || [[ " $METHODS " == *" $method "* ]] || return 0
  local start end line
  start=$(date +%s.%N)
  line=$("$@" | tee -a "$out/log.txt" | grep '^clipped' | sed 's/^clipped to \[0, 1\]: //' || true)
  end=$(date +%s.%N)
  local p s
  p=$(echo "$line" | awk '{print $2}')
  s=$(echo "$line" | awk '{print $8}')
  echo "$image,$method,$lambda,$p,$s,$(echo "$end - $start" | bc)" >> "$csv"
  echo "$image $method $lambda: PSNR $p SSIM $s"
}

for ((k = first; k < first + count; k++)); do
  id=$(printf %04d "$k")
  truth=$out/$id-truth.png
  case $problem in
    ct|ellipses)
      data=$out/$id.safetensors
      if [ "$problem" = ct ]; then
        "$funknn" ct simulate --image "fashion-mnist:test:$k" --size $n --noise-snr 30 --seed "$k" -o "$data" --truth-out "$truth" --bit-depth 16 > /dev/null
      else
        "$funknn" ct simulate --phantom ellipses --seed "$k" --size $n --noise-snr 30 -o "$data" --truth-out "$truth" --bit-depth 16 > /dev/null
      fi
      run "$k" fbp - "$funknn" ct reconstruct --data "$data" --method fbp --size $n -o "$out/$id-fbp.png" --truth "$truth"
      for l in ${TV_LAMBDAS:-5e-4 1e-3 2e-3 4e-3}; do
        run "$k" tv "$l" "$funknn" ct reconstruct --data "$data" --method tv --lambda "$l" --iterations 1000 --size $n -o "$out/$id-tv-$l.png" --truth "$truth"
      done
      # shellcheck disable=SC2086
      run "$k" prior - "$funknn" solve ct --data "$data" --size $n -o "$out/$id-prior.png" --truth "$truth" --losses "$out/$id-prior.csv" ${PRIOR_ARGS:-}
      ;;
    sparse-gradient|noisy-gradient)
      data=$out/$id.safetensors
      if [ "$problem" = sparse-gradient ]; then
        "$funknn" simulate gradient --image "fashion-mnist:test:$k" --size $n --sparse 0.2 -o "$data" --truth-out "$truth" --bit-depth 16 > /dev/null
      else
        "$funknn" simulate gradient --image "fashion-mnist:test:$k" --size $n --noise-snr 20 --seed "$k" -o "$data" --truth-out "$truth" --bit-depth 16 > /dev/null
      fi
      for l in ${TIKHONOV_LAMBDAS:-3 10 30}; do
        run "$k" tikhonov "$l" "$funknn" solve gradient --method tikhonov --lambda "$l" --iterations 5000 --data "$data" --size $n -o "$out/$id-tikhonov-$l.png" --truth "$truth"
      done
      for l in ${TV_LAMBDAS:-0.03 0.1 0.3}; do
        run "$k" tv "$l" "$funknn" solve gradient --method tv --lambda "$l" --data "$data" --size $n -o "$out/$id-tv-$l.png" --truth "$truth"
      done
      if [ "$problem" = noisy-gradient ]; then
        # Dense observations: least-squares integration (DCT Poisson solve) applies.
        run "$k" integrate - "$funknn" solve gradient --method integrate --data "$data" --size $n -o "$out/$id-integrate.png" --truth "$truth"
      fi
      # shellcheck disable=SC2086
      run "$k" prior - "$funknn" solve gradient --data "$data" --size $n -o "$out/$id-prior.png" --truth "$truth" --losses "$out/$id-prior.csv" ${PRIOR_ARGS:-}
      ;;
    poisson)
      data=$out/$id.safetensors
      "$funknn" simulate poisson --image "fashion-mnist:test:$k" --size $n --seed "$k" -o "$data" --truth-out "$truth" --bit-depth 16 > /dev/null
      for l in ${GRID_LAMBDAS:-1e-3 1e-2}; do
        run "$k" grid "$l" "$funknn" solve poisson --method grid --lambda "$l" --data "$data" --size $n -o "$out/$id-grid-$l.png" --truth "$truth"
      done
      run "$k" tikhonov 1e-4 "$funknn" solve poisson --method tikhonov --lambda 1e-4 --data "$data" --size $n -o "$out/$id-tikhonov.png" --truth "$truth"
      run "$k" tv 1e-2 "$funknn" solve poisson --method tv --lambda 1e-2 --data "$data" --size $n -o "$out/$id-tv.png" --truth "$truth"
      # shellcheck disable=SC2086
      run "$k" prior - "$funknn" solve poisson --data "$data" --size $n -o "$out/$id-prior.png" --truth "$truth" --losses "$out/$id-prior.csv" ${PRIOR_ARGS:-}
      ;;
    *) echo "unknown problem $problem" >&2; exit 2 ;;
  esac
done
