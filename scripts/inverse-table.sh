#!/usr/bin/env bash
# inverse-table.sh OUT: the mean PSNR, SSIM and seconds per method and λ of
# OUT/results.csv (written by inverse-experiments.sh), as a Markdown table, the best λ of
# each method marked. Only images that every method finished are counted (a run stopped
# half-way leaves some without the prior's line).
set -euo pipefail
f=$1/results.csv
awk -F, 'FNR == NR { if (FNR > 1 && $2 == "prior" && $4 != "") done[$1] = 1; next }
FNR > 1 && $4 != "" && ($1 in done) {
  key = $2 "," $3; n[key]++; p[key] += $4; s[key] += $5; t[key] += $6; m[key] = $2
}
END {
  for (k in n) { mean = p[k] / n[k]; if (!(m[k] in best) || mean > best[m[k]]) { best[m[k]] = mean; arg[m[k]] = k } }
  print "| method | λ | images | mean PSNR (dB) | mean SSIM | seconds per image |"
  print "|---|---|---:|---:|---:|---:|"
  for (k in n) {
    split(k, a, ","); star = (arg[m[k]] == k) ? " (best)" : ""
    printf "| %s%s | %s | %d | %.2f | %.4f | %.1f |\n", a[1], star, a[2], n[k], p[k] / n[k], s[k] / n[k], t[k] / n[k]
  }
}' "$f" "$f" | { read -r h; read -r r; echo "$h"; echo "$r"; sort; }
