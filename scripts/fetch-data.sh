#!/usr/bin/env bash
# fetch-data.sh: fetch the FunkNN photograph set and the out-of-distribution images.
#
#   scripts/fetch-data.sh [DATA_DIR]
#
# DATA_DIR defaults to $FUNKNN_DATA, or to data/ at the repository root.
#
# What it does (see docs/data.md):
#   1. `apt-get download` three Debian wallpaper packages into a temporary
#      directory and unpack them with `dpkg-deb -x`:
#        plasma-workspace-wallpapers, mate-backgrounds, lomiri-wallpapers-16.04
#   2. Copy the photographs chosen by hand (fixed list PHOTOS below) into
#        DATA_DIR/photos/train/  and  DATA_DIR/photos/test/
#   3. `pip download` the scikit-image wheel and copy five colour photographs
#      from skimage/data/ into DATA_DIR/ood/.
#   4. Write DATA_DIR/MANIFEST.txt (sha256, path, source package, path inside
#      the package), and print a summary.
#
# It is idempotent: a file already in place is not fetched again, and a run
# that finds everything in place changes nothing.
#
# Environment:
#   FUNKNN_DATA              data directory (the first argument takes precedence)
#   FUNKNN_DEB_DIR           optional directory of already-downloaded .deb files
#                            (<package>_*.deb); used instead of `apt-get download`
#   FUNKNN_SKIMAGE_VERSION   scikit-image wheel version (default 0.26.0)
#
# Needs: bash, coreutils (sha256sum), apt-get + dpkg-deb (Debian/Ubuntu), and
# python3 with pip for the OOD images. Network access to the Debian mirror in
# your apt sources and to PyPI.

set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"

log()  { printf '[fetch-data] %s\n' "$*"; }
warn() { printf '[fetch-data] WARNING: %s\n' "$*" >&2; }
die()  { printf '[fetch-data] ERROR: %s\n' "$*" >&2; exit 1; }

case "${1:-}" in
  -h|--help) sed -n '2,/^$/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
[ "$#" -le 1 ] || die "too many arguments (usage: $0 [DATA_DIR])"

DATA_DIR="${1:-${FUNKNN_DATA:-$REPO_ROOT/data}}"
SKIMAGE_VERSION="${FUNKNN_SKIMAGE_VERSION:-0.26.0}"

# ---------------------------------------------------------------------------
# Curated selection (made by looking at every image in the packages).
#
# Package versions the list (and the sha256 values) were made from: Debian 12
# "bookworm". Another version may lack files (the script then stops) or carry
# re-encoded ones (the script then warns and keeps them).
declare -A PKG_VERSION=(
  [plasma-workspace-wallpapers]="4:5.27.5-2"
  [mate-backgrounds]="1.26.0-1"
  [lomiri-wallpapers-16.04]="20.04.0-2"
)
PACKAGES=(plasma-workspace-wallpapers mate-backgrounds lomiri-wallpapers-16.04)

# One photograph per line:
#   split | content | file name in DATA_DIR/photos/<split>/ | package | path inside the package | sha256
#
# Left out on purpose:
#   plasma-workspace-wallpapers: all screenshot.*, all images_dark/ variants,
#     the portrait/phone sizes and every smaller resolution (only the single
#     largest landscape image of a wallpaper is ever used), and the wallpapers
#     that are illustrations or rendered/vector art: Altai, Autumn (painting),
#     Canopee, Cascade, Cluster, Elarun, Flow, FlyingKonqui, Honeywave, IceCold,
#     Kay, Kokkini, MilkyWay, Opal, PastelHills, Patak, SafeLanding, Shell, Volna.
#   mate-backgrounds: everything in abstract/ (Elephants* is a painting in three
#     sizes; Arc-Colors, Flow, Gulp, Silk, Spring, Waves are vector art) and in
#     desktop/ (logos, stripes, gradients; the Ubuntu-Mate-*-no-logo images are
#     rendered blurred aurora/star fields).
#   lomiri-wallpapers-16.04: umang_by_Abhishek_Mudgal.jpg (abstract gradient).
#
# Test set: 6 photographs, 2 per package, 2 each of landscape, close-up and
# texture. Everything else is training data.
PHOTOS='
test |landscape|lomiri-picosdeeuropa_by_Aitzol_Berasategi.jpg|lomiri-wallpapers-16.04|usr/share/backgrounds/picosdeeuropa_by_Aitzol_Berasategi.jpg|414d0072b2f6f2c555deafeaef6e45c4fed6fa9ad26eba6560ca8803959cf97a
test |close-up |lomiri-Picture_1A_by_freespace.jpg|lomiri-wallpapers-16.04|usr/share/backgrounds/Picture_1A_by_freespace.jpg|89e86af38d04daaef975665dc2127e9fa76f0fd68f4eea105a2d0ae3390b010b
test |close-up |mate-LadyBird.jpg|mate-backgrounds|usr/share/backgrounds/mate/nature/LadyBird.jpg|e35a9a4126ef969c90b29c038058c5a575a20eadd84106a37bf1fa9931e7b61d
test |texture  |mate-Wood.jpg|mate-backgrounds|usr/share/backgrounds/mate/nature/Wood.jpg|19c78500ac00a622e19907ab9cc7d06d46fe08c4a6142759a84195696150ec07
test |landscape|plasma-EveningGlow.jpg|plasma-workspace-wallpapers|usr/share/wallpapers/EveningGlow/contents/images/2560x1600.jpg|586682dcb362b9f620068f10138f87d0d3649939aef238adc5807cb951976a7a
test |texture  |plasma-OneStandsOut.jpg|plasma-workspace-wallpapers|usr/share/wallpapers/OneStandsOut/contents/images/2560x1600.jpg|cb507baf1dafdcae362264f3aba9483ed4be5f6c9fdd770f0ec0920c6d9e80fd

train|landscape|lomiri-Bridge_by_Sander_Klootwijk.jpg|lomiri-wallpapers-16.04|usr/share/backgrounds/Bridge_by_Sander_Klootwijk.jpg|bd86b081f9975e2b83527f71e49b9271a8ab40885428395969d9f7d834d7f050
train|close-up |lomiri-Dragonfly_by_Bolly.jpg|lomiri-wallpapers-16.04|usr/share/backgrounds/Dragonfly_by_Bolly.jpg|af5af17841009732def24b09bb1e669a1b09d2b4bdeee7812c371101c30d2bb3
train|close-up |lomiri-Picture_0B_by_freespace.jpg|lomiri-wallpapers-16.04|usr/share/backgrounds/Picture_0B_by_freespace.jpg|c8c0ab18e48d9e0419fe42881112137f3afafc27dfddc29ec3a6d54c56d225ad
train|interior |lomiri-Wine_by_Jakkub_Mede.jpg|lomiri-wallpapers-16.04|usr/share/backgrounds/Wine_by_Jakkub_Mede.jpg|d2e96e6d4da40dd804b3d0ce295e94de04a2d7d9b6785d42cd9d92ba58bced74
train|landscape|lomiri-aitzgorri_by_Aitzol_Berasategi.jpg|lomiri-wallpapers-16.04|usr/share/backgrounds/aitzgorri_by_Aitzol_Berasategi.jpg|66268e7b48f8854d36a28765fac6e23ec1aee251daa6da1f64715f201020ad36
train|texture  |lomiri-analogpattern_by_Peter_Nerlich.jpg|lomiri-wallpapers-16.04|usr/share/backgrounds/analogpattern_by_Peter_Nerlich.jpg|15372488a192b2be2eafc67bd3ed31cbfca19abe3929e925607fcbc9cb4d4202
train|object   |lomiri-free_by_Peter_Nerlich.jpg|lomiri-wallpapers-16.04|usr/share/backgrounds/free_by_Peter_Nerlich.jpg|85a5453c2fed514c75973016f3d862aca62eb7ca087618822469274ac1092373
train|animals  |lomiri-friends_by_Aitzol_Berasategi.jpg|lomiri-wallpapers-16.04|usr/share/backgrounds/friends_by_Aitzol_Berasategi.jpg|cc40e313c74e421edffe3403def413c16878ce14661cce7ec5915baeab35538d
train|object   |lomiri-greentock_by_Peter_Nerlich.jpg|lomiri-wallpapers-16.04|usr/share/backgrounds/greentock_by_Peter_Nerlich.jpg|e7b20e2db9dcd6e2b278ca55873c2110b35d89cd38b04d0b18728726888e6889
train|landscape|lomiri-life_by_Aitzol_Berasategi.jpg|lomiri-wallpapers-16.04|usr/share/backgrounds/life_by_Aitzol_Berasategi.jpg|4c119350ead80201fe256850c3d316309ddfb4bdf10b235ce982dcde0c667c05
train|close-up |lomiri-seeding_by_Clements_Engelhardt.jpg|lomiri-wallpapers-16.04|usr/share/backgrounds/seeding_by_Clements_Engelhardt.jpg|a5634d1ab5e41a3568e92d4a894a500c92b891f9ff734e50bd224d6e185a605f
train|landscape|lomiri-sunset_by_Aitzol_Berasategi.jpg|lomiri-wallpapers-16.04|usr/share/backgrounds/sunset_by_Aitzol_Berasategi.jpg|474dab6a4b9f94dc76c29dfe30e9f5db4af0fd2e33fe5d695f8152b371efca18

train|close-up |mate-Aqua.jpg|mate-backgrounds|usr/share/backgrounds/mate/nature/Aqua.jpg|5c30118205982da441bf7e6a1ada636a8a0be879408140b3148280c665ed6bce
train|texture  |mate-Blinds.jpg|mate-backgrounds|usr/share/backgrounds/mate/nature/Blinds.jpg|f7aac0dcc2e06d0491643e84df3da1d9db7c4610f58806a880d56e074799f600
train|close-up |mate-Dune.jpg|mate-backgrounds|usr/share/backgrounds/mate/nature/Dune.jpg|8a67c2cb0be8c46b70c237311a4fa4d2b4ac7d39568135384787801fa5cc9a91
train|close-up |mate-FreshFlower.jpg|mate-backgrounds|usr/share/backgrounds/mate/nature/FreshFlower.jpg|972b0a0c4e5e3fa93f4f244fc84bc64b121a5eac3aaa5856f1308c1f38a02f8e
train|close-up |mate-Garden.jpg|mate-backgrounds|usr/share/backgrounds/mate/nature/Garden.jpg|d3095ee09d425ef23d27155412136cf14fc3c9af76ca58b452f55e23da324e78
train|texture  |mate-GreenMeadow.jpg|mate-backgrounds|usr/share/backgrounds/mate/nature/GreenMeadow.jpg|8fa0de0aa4089f7319c9fb7a6d006d4cab6023e8c8853731557cff53567b4832
train|close-up |mate-RainDrops.jpg|mate-backgrounds|usr/share/backgrounds/mate/nature/RainDrops.jpg|3e4ea9671c28c90a86cf67b3db9daf18c4741587c596333a7529ca589aaa0c16
train|landscape|mate-Storm.jpg|mate-backgrounds|usr/share/backgrounds/mate/nature/Storm.jpg|77ca53077831d3237f73393a91fc879158abc046d852941c26e90de336356957
train|close-up |mate-TwoWings.jpg|mate-backgrounds|usr/share/backgrounds/mate/nature/TwoWings.jpg|665e5abf8a5399070a91a9a8e455fe071e5b61697ff78fdeda4e9843ef545aeb
train|close-up |mate-YellowFlower.jpg|mate-backgrounds|usr/share/backgrounds/mate/nature/YellowFlower.jpg|254da96256acb7add685679775a04d1e4a5bc8cd13e5a5a3d61351ce198a5306

train|landscape|plasma-BytheWater.jpg|plasma-workspace-wallpapers|usr/share/wallpapers/BytheWater/contents/images/2560x1600.jpg|c272434ef39f2abf1ed48a15a8910088020f3165329a5092f3940ec9464bc05f
train|landscape|plasma-ColdRipple.jpg|plasma-workspace-wallpapers|usr/share/wallpapers/ColdRipple/contents/images/2560x1600.jpg|05bef6722fc0ed81292cceb3ed026c38d17e510f3c84be7d68610c2b1a723c3f
train|close-up |plasma-ColorfulCups.jpg|plasma-workspace-wallpapers|usr/share/wallpapers/ColorfulCups/contents/images/2560x1600.jpg|6e0f3a72feb5a4a9fec191b77e34874c3c69e2d93040deb3f07773e73385023d
train|landscape|plasma-DarkestHour.jpg|plasma-workspace-wallpapers|usr/share/wallpapers/DarkestHour/contents/images/2560x1600.jpg|8e3703fae3a3c217b1fc2b399b706cd3720584268d071ba153e4809daa55f1ce
train|close-up |plasma-FallenLeaf.jpg|plasma-workspace-wallpapers|usr/share/wallpapers/FallenLeaf/contents/images/2560x1600.jpg|95603a6560c7e8d50e0e03b3f4adbe39c5258c72528e74e4ecaea1daf4e499de
train|texture  |plasma-Grey.jpg|plasma-workspace-wallpapers|usr/share/wallpapers/Grey/contents/images/2560x1600.jpg|88c31d8944b7e6935d1b9a296654c692f0772cb512491713eb30a972a604c0ed
train|sky      |plasma-Kite.jpg|plasma-workspace-wallpapers|usr/share/wallpapers/Kite/contents/images/2560x1600.jpg|bdca288ce296a981e80659c021cf707caddc702c0c8d4247e60bd618476d47f8
train|landscape|plasma-Path.jpg|plasma-workspace-wallpapers|usr/share/wallpapers/Path/contents/images/2560x1600.jpg|7477457d7f17b736259f1b021864778ad4ba802cf3214e6728181ff29126bba8
train|landscape|plasma-summer_1am.jpg|plasma-workspace-wallpapers|usr/share/wallpapers/summer_1am/contents/images/2560x1600.jpg|c868b50789591dd42910153c768053f1ba0a98cb36bbfc2b7a96a1045d0477f8
'

# Out-of-distribution colour photographs from skimage/data/ in the
# scikit-image wheel:  file name | sha256 (scikit-image 0.26.0)
OOD='
astronaut.png|88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5
coffee.png|cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7
chelsea.png|596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb
rocket.jpg|c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c
motorcycle_left.png|db18e9c4157617403c3537a6ba355dfeafe9a7eabb6b9b94cb33f6525dd49179
'

# ---------------------------------------------------------------------------
trim() { local s="$1"; s="${s#"${s%%[![:space:]]*}"}"; s="${s%"${s##*[![:space:]]}"}"; printf '%s' "$s"; }
sha256_of() { sha256sum "$1" | cut -c1-64; }
need() { command -v "$1" >/dev/null 2>&1 || die "'$1' not found: $2"; }

need sha256sum "install coreutils"

mkdir -p "$DATA_DIR" || die "cannot create data directory '$DATA_DIR'"
DATA_DIR="$(cd "$DATA_DIR" && pwd)"
PHOTO_DIR="$DATA_DIR/photos"
OOD_DIR="$DATA_DIR/ood"
SRC_DIR="$DATA_DIR/.sources"   # one small file per source: "<package> <version>"
MANIFEST="$DATA_DIR/MANIFEST.txt"
mkdir -p "$PHOTO_DIR/train" "$PHOTO_DIR/test" "$OOD_DIR" "$SRC_DIR"

TMP=""
cleanup() { if [ -n "$TMP" ]; then rm -rf "$TMP"; fi; }
trap cleanup EXIT
tmpdir() { [ -n "$TMP" ] || TMP="$(mktemp -d "${TMPDIR:-/tmp}/funknn-fetch.XXXXXX")"; }

log "data directory: $DATA_DIR"
changed=0

# Parse PHOTOS into parallel arrays.
P_SPLIT=(); P_KIND=(); P_NAME=(); P_PKG=(); P_PATH=(); P_SHA=()
while IFS='|' read -r split kind name pkg path sha; do
  split="$(trim "$split")"
  [ -z "$split" ] && continue
  case "$split" in \#*) continue ;; train|test) ;; *) die "bad split '$split' in PHOTOS" ;; esac
  P_SPLIT+=("$split"); P_KIND+=("$(trim "$kind")"); P_NAME+=("$(trim "$name")")
  P_PKG+=("$(trim "$pkg")"); P_PATH+=("$(trim "$path")"); P_SHA+=("$(trim "$sha")")
done <<< "$PHOTOS"

# A photo that moved between train and test in the list is moved, not re-fetched.
for i in "${!P_NAME[@]}"; do
  dest="$PHOTO_DIR/${P_SPLIT[$i]}/${P_NAME[$i]}"
  other="train"; [ "${P_SPLIT[$i]}" = train ] && other="test"
  if [ ! -f "$dest" ] && [ -f "$PHOTO_DIR/$other/${P_NAME[$i]}" ]; then
    mv "$PHOTO_DIR/$other/${P_NAME[$i]}" "$dest"
    log "moved ${P_NAME[$i]}: $other -> ${P_SPLIT[$i]}"
    changed=1
  fi
done

# --- 1+2. Debian packages --------------------------------------------------
fetch_deb() {  # fetch_deb PACKAGE -> prints path of the .deb
  local pkg="$1" d f
  if [ -n "${FUNKNN_DEB_DIR:-}" ]; then
    for f in "$FUNKNN_DEB_DIR/${pkg}"_*.deb; do
      [ -f "$f" ] && { log "  using $f" >&2; printf '%s\n' "$f"; return 0; }
    done
  fi
  need apt-get "this script needs a Debian/Ubuntu system (or set FUNKNN_DEB_DIR to a folder with ${pkg}_*.deb)"
  d="$TMP/deb-$pkg"; mkdir -p "$d"
  log "  apt-get download $pkg (a warning about the _apt sandbox is harmless)" >&2
  if ! (cd "$d" && apt-get download "$pkg") >&2; then
    die "apt-get download $pkg failed. Is the package in your apt sources (Debian 12 'bookworm' has it)? Try 'apt-get update' first, or put ${pkg}_*.deb into a folder and set FUNKNN_DEB_DIR."
  fi
  for f in "$d/${pkg}"_*.deb; do
    [ -f "$f" ] && { printf '%s\n' "$f"; return 0; }
  done
  die "apt-get download $pkg produced no ${pkg}_*.deb"
}

for pkg in "${PACKAGES[@]}"; do
  missing=()
  for i in "${!P_NAME[@]}"; do
    [ "${P_PKG[$i]}" = "$pkg" ] || continue
    [ -f "$PHOTO_DIR/${P_SPLIT[$i]}/${P_NAME[$i]}" ] || missing+=("$i")
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    log "$pkg: all photographs already present, skipping download"
    continue
  fi
  log "$pkg: ${#missing[@]} photograph(s) missing, fetching the package"
  need dpkg-deb "this script needs dpkg-deb (package 'dpkg')"
  tmpdir
  deb="$(fetch_deb "$pkg")"
  version="$(dpkg-deb -f "$deb" Version)" || die "cannot read $deb"
  [ "$version" = "${PKG_VERSION[$pkg]}" ] ||
    warn "$pkg is version $version; the list was made from ${PKG_VERSION[$pkg]}"
  x="$TMP/x-$pkg"; mkdir -p "$x"
  dpkg-deb -x "$deb" "$x" || die "dpkg-deb -x $deb failed"
  for i in "${missing[@]}"; do
    src="$x/${P_PATH[$i]}"
    [ -f "$src" ] || die "$pkg $version has no ${P_PATH[$i]} (the list was made from ${PKG_VERSION[$pkg]})"
    dest="$PHOTO_DIR/${P_SPLIT[$i]}/${P_NAME[$i]}"
    cp "$src" "$dest.part"
    got="$(sha256_of "$dest.part")"
    [ "$got" = "${P_SHA[$i]}" ] ||
      warn "${P_NAME[$i]}: sha256 $got differs from the listed ${P_SHA[$i]} (different package version?); keeping it"
    mv "$dest.part" "$dest"
    log "  ${P_SPLIT[$i]}/${P_NAME[$i]}"
  done
  printf '%s %s\n' "$pkg" "$version" > "$SRC_DIR/$pkg"
  rm -rf "$x" "$TMP/deb-$pkg"   # keep the temporary folder small
  changed=1
done

# --- 3. OOD images from the scikit-image wheel -----------------------------
O_NAME=(); O_SHA=()
while IFS='|' read -r name sha; do
  name="$(trim "$name")"; [ -z "$name" ] && continue
  O_NAME+=("$name"); O_SHA+=("$(trim "$sha")")
done <<< "$OOD"

ood_missing=()
for i in "${!O_NAME[@]}"; do
  [ -f "$OOD_DIR/${O_NAME[$i]}" ] || ood_missing+=("$i")
done
if [ "${#ood_missing[@]}" -eq 0 ]; then
  log "scikit-image: all OOD images already present, skipping download"
else
  log "scikit-image: ${#ood_missing[@]} OOD image(s) missing, fetching the wheel"
  need python3 "needed for pip and to open the wheel"
  python3 -m pip --version >/dev/null 2>&1 || die "python3 has no pip (install python3-pip)"
  tmpdir
  w="$TMP/wheel"; mkdir -p "$w"
  # Any wheel carries the same skimage/data files; if there is no wheel for
  # this Python, ask for a CPython 3.12 manylinux one instead.
  if ! python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$w" \
         "scikit-image==$SKIMAGE_VERSION" >&2; then
    warn "no scikit-image $SKIMAGE_VERSION wheel for this Python; trying the CPython 3.12 manylinux wheel"
    python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$w" \
        --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64 \
        "scikit-image==$SKIMAGE_VERSION" >&2 ||
      die "pip download scikit-image==$SKIMAGE_VERSION failed (is PyPI reachable? set FUNKNN_SKIMAGE_VERSION to another version)"
  fi
  whl=""
  for f in "$w"/scikit_image-*.whl; do [ -f "$f" ] && whl="$f"; done
  [ -n "$whl" ] || die "pip download gave no scikit_image-*.whl"
  names=()
  for i in "${ood_missing[@]}"; do names+=("${O_NAME[$i]}"); done
  python3 - "$whl" "$w/x" "${names[@]}" <<'PY' || die "could not extract images from $(basename "$whl")"
import sys, zipfile
whl, out, names = sys.argv[1], sys.argv[2], sys.argv[3:]
z = zipfile.ZipFile(whl)
have = set(z.namelist())
bad = [n for n in names if "skimage/data/" + n not in have]
if bad:
    avail = sorted(n[len("skimage/data/"):] for n in have
                   if n.startswith("skimage/data/") and n.endswith((".png", ".jpg")))
    sys.exit("missing in wheel: %s; skimage/data has: %s" % (", ".join(bad), ", ".join(avail)))
for n in names:
    z.extract("skimage/data/" + n, out)
PY
  for i in "${ood_missing[@]}"; do
    dest="$OOD_DIR/${O_NAME[$i]}"
    cp "$w/x/skimage/data/${O_NAME[$i]}" "$dest.part"
    got="$(sha256_of "$dest.part")"
    [ "$got" = "${O_SHA[$i]}" ] ||
      warn "${O_NAME[$i]}: sha256 $got differs from the listed ${O_SHA[$i]}; keeping it"
    mv "$dest.part" "$dest"
    log "  ood/${O_NAME[$i]}"
  done
  wver="$(basename "$whl" | cut -d- -f2)"
  printf 'scikit-image %s %s\n' "$wver" "$(basename "$whl")" > "$SRC_DIR/scikit-image"
  changed=1
fi

# --- 4. Manifest -----------------------------------------------------------
src_label() {  # src_label KEY DEFAULT_VERSION -> "name (version)"
  local key="$1" def="$2" line
  if [ -f "$SRC_DIR/$key" ]; then line="$(cat "$SRC_DIR/$key")"; set -- $line; printf '%s (%s)' "$1" "$2"
  else printf '%s (%s, assumed)' "$key" "$def"; fi
}

if [ "$changed" -eq 0 ] && [ -f "$MANIFEST" ]; then
  log "nothing to do: every file is already present and MANIFEST.txt exists"
else
  log "writing MANIFEST.txt"
  {
    printf '# FunkNN data set, written by scripts/fetch-data.sh (see docs/data.md).\n'
    printf '# Tab-separated: sha256, path relative to this folder, source (version), path inside the source.\n'
    printf '# Check with:  cut -f1,2 MANIFEST.txt | grep -v "^#" | sed "s/\\t/  /" | sha256sum -c\n'
    for split in test train; do
      for i in "${!P_NAME[@]}"; do
        [ "${P_SPLIT[$i]}" = "$split" ] || continue
        rel="photos/$split/${P_NAME[$i]}"
        printf '%s\t%s\t%s\t%s\n' "$(sha256_of "$DATA_DIR/$rel")" "$rel" \
          "$(src_label "${P_PKG[$i]}" "${PKG_VERSION[${P_PKG[$i]}]}")" "${P_PATH[$i]}"
      done
    done
    for i in "${!O_NAME[@]}"; do
      rel="ood/${O_NAME[$i]}"
      printf '%s\t%s\t%s\t%s\n' "$(sha256_of "$DATA_DIR/$rel")" "$rel" \
        "$(src_label scikit-image "$SKIMAGE_VERSION")" "skimage/data/${O_NAME[$i]}"
    done
  } > "$MANIFEST.part"
  mv "$MANIFEST.part" "$MANIFEST"
fi

# --- 5. Summary ------------------------------------------------------------
count() { find "$1" -maxdepth 1 -type f \( -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.png' \) | wc -l; }
log "summary:"
for pkg in "${PACKAGES[@]}"; do
  n=0; for i in "${!P_PKG[@]}"; do [ "${P_PKG[$i]}" = "$pkg" ] && n=$((n + 1)); done
  printf '  %-30s %3d photographs\n' "$pkg" "$n"
done
printf '  %-30s %3d files\n' "photos/train/" "$(count "$PHOTO_DIR/train")"
printf '  %-30s %3d files\n' "photos/test/" "$(count "$PHOTO_DIR/test")"
printf '  %-30s %3d files\n' "ood/" "$(count "$OOD_DIR")"
printf '  %-30s %s\n' "total size" "$(du -sh "$DATA_DIR" | cut -f1)"
