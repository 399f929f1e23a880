#!/usr/bin/env bash
# Build lotus, lotus-miner and lotus-seed for a 2KiB-sector devnet (Go build tag `2k`),
# from package registries only: Lotus and filecoin-ffi from the Go module proxy, the
# Rust side of filecoin-ffi (libfilcrypto) from source with crates from crates.io.
# No GitHub, no prebuilt ffi release, no proof-parameter download.
#
# Idempotent: every step is skipped when its output is already there.
#
# Usage: scripts/lotus-devnet/build.sh
# Knobs (environment):
#   LOTUS_VERSION        Lotus release (module version)            default v1.36.2
#   FFI_VERSION          filecoin-ffi module version               default: the one Lotus's go.mod requires
#   LOTUS_DEVNET_CACHE   cached libfilcrypto + binaries            default $HOME/.cache/lotus-devnet
#   LOTUS_BUILD_DIR      patched source copy, cargo target, logs   default $HOME/.cache/lotus-devnet/build
#   FFI_FEATURES         cargo features of filcrypto               default multicore-sdr,fvm (no GPU)
#   FFI_TARGET_FEATURES  rustc target features, "auto" = like install-filcrypto (host CPU
#                        flags: adx, sha_ni, avx2, ...), "" = portable            default auto
#   NICE                 prefix for the heavy commands             default "nice -n 19"
# Output: $LOTUS_DEVNET_CACHE/bin -> $LOTUS_DEVNET_CACHE/<version>-2k/bin/{lotus,lotus-miner,lotus-seed}
set -euo pipefail

LOTUS_VERSION=${LOTUS_VERSION:-v1.36.2}
FFI_VERSION=${FFI_VERSION:-}
LOTUS_DEVNET_CACHE=${LOTUS_DEVNET_CACHE:-$HOME/.cache/lotus-devnet}
LOTUS_BUILD_DIR=${LOTUS_BUILD_DIR:-$HOME/.cache/lotus-devnet/build}
FFI_FEATURES=${FFI_FEATURES:-multicore-sdr,fvm}
FFI_TARGET_FEATURES=${FFI_TARGET_FEATURES-auto}
NICE=${NICE-nice -n 19}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
patchfile=$here/patches/lotus-$LOTUS_VERSION-offline-devnet.patch
logs=$LOTUS_BUILD_DIR/logs
export PATH="/usr/local/go/bin:$HOME/.cargo/bin:$HOME/go/bin:$PATH"
export GOFLAGS=-buildvcs=false   # module zips carry no VCS data
export GOTOOLCHAIN=local         # never try to download a Go toolchain
# filecoin-ffi pins a Rust toolchain in rust/rust-toolchain.toml that rustup cannot download
# here; use the installed stable one instead.
export RUSTUP_TOOLCHAIN=${RUSTUP_TOOLCHAIN:-stable}

log() { echo "[lotus-devnet build $(date +%H:%M:%S)] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# timed NAME CMD...: run CMD (output in $logs/NAME.log), resource use in $logs/NAME.time
timed() {
  local name=$1; shift
  mkdir -p "$logs"
  log "$name: $*"
  local rc=0
  if [ -x /usr/bin/time ]; then
    /usr/bin/time -v -o "$logs/$name.time" "$@" >"$logs/$name.log" 2>&1 || rc=$?
  else
    "$@" >"$logs/$name.log" 2>&1 || rc=$?
  fi
  if [ "$rc" != 0 ]; then
    tail -40 "$logs/$name.log" >&2
    die "$name failed (rc=$rc), full log: $logs/$name.log"
  fi
  if [ -f "$logs/$name.time" ]; then
    sed -n -e 's/^\s*Elapsed (wall clock) time (h:mm:ss or m:ss): /  wall /p' \
           -e 's/^\s*Maximum resident set size (kbytes): /  max RSS kB /p' "$logs/$name.time" >&2
  fi
}

# ---------------------------------------------------------------- prerequisites
# Debian packages a fresh machine may lack: pkg-config and libhwloc-dev (the multicore-sdr
# feature links hwloc), jq (reads `go mod download -json`), patch.
need=()
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v jq >/dev/null || need+=(jq)
command -v patch >/dev/null || need+=(patch)
{ command -v pkg-config >/dev/null && pkg-config --exists hwloc; } || need+=(libhwloc-dev)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 ||
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null; }
  else
    die "missing Debian packages: ${need[*]} (install them as root)"
  fi
fi
for c in go cargo rustc pkg-config patch jq; do
  command -v "$c" >/dev/null || die "missing command: $c"
done
[ -f "$patchfile" ] || die "no patch for $LOTUS_VERSION: $patchfile"

mkdir -p "$LOTUS_BUILD_DIR" "$LOTUS_DEVNET_CACHE"

# ---------------------------------------------------------------- sources (Go module proxy)
modinfo() { (cd "$LOTUS_BUILD_DIR" && go mod download -json "$1@$2"); }
lotus_json=$(modinfo github.com/filecoin-project/lotus "$LOTUS_VERSION") || die "go mod download lotus@$LOTUS_VERSION"
lotus_mod=$(jq -r .Dir <<<"$lotus_json")
lotus_rev=$(jq -r '.Origin.Hash // "unknown"' <<<"$lotus_json")
if [ -z "$FFI_VERSION" ]; then
  FFI_VERSION=$(awk '$1=="github.com/filecoin-project/filecoin-ffi" && $2 ~ /^v/ {print $2; exit}' "$lotus_mod/go.mod")
  [ -n "$FFI_VERSION" ] || die "could not read the filecoin-ffi version from $lotus_mod/go.mod"
fi
ffi_json=$(modinfo github.com/filecoin-project/filecoin-ffi "$FFI_VERSION") || die "go mod download filecoin-ffi@$FFI_VERSION"
ffi_mod=$(jq -r .Dir <<<"$ffi_json")
[ -f "$ffi_mod/rust/Cargo.lock" ] || die "filecoin-ffi@$FFI_VERSION has no rust/ sources in its module zip"
log "lotus $LOTUS_VERSION (${lotus_rev:0:12}), filecoin-ffi $FFI_VERSION"

# Lotus's go.mod replaces filecoin-ffi with ./extern/filecoin-ffi (a git submodule upstream):
# lay out a writable copy with the ffi module in that place, then apply the devnet patch.
src=$LOTUS_BUILD_DIR/src/lotus-$LOTUS_VERSION
patch_sum=$(sha256sum "$patchfile" | cut -c1-16)
prep_stamp="$FFI_VERSION $patch_sum"
if [ "$(cat "$src/.devnet-prepared" 2>/dev/null)" != "$prep_stamp" ]; then
  log "preparing source tree $src"
  rm -rf "$src"
  mkdir -p "$(dirname "$src")"
  cp -r "$lotus_mod" "$src"
  chmod -R u+w "$src"
  mkdir -p "$src/extern"
  cp -r "$ffi_mod" "$src/extern/filecoin-ffi"
  chmod -R u+w "$src/extern/filecoin-ffi"
  (cd "$src" && patch -p1 --forward <"$patchfile" >/dev/null) || die "patch did not apply"
  echo "$prep_stamp" >"$src/.devnet-prepared"
fi
ffi_dir=$src/extern/filecoin-ffi

# ---------------------------------------------------------------- libfilcrypto (cargo)
if [ "$FFI_TARGET_FEATURES" = auto ]; then
  # same mapping as filecoin-ffi's install-filcrypto (get_release_flags)
  cpu=$(grep -m1 '^flags' /proc/cpuinfo || true)
  tf=""
  for pair in adx:+adx sha_ni:+sha sha2:+sha2 sse2:+sse2 avx2:+avx2 avx:+avx sse4_2:+sse4.2 sse4_1:+sse4.1; do
    if grep -qw "${pair%%:*}" <<<"$cpu"; then tf="${tf:+$tf,}${pair#*:}"; fi
  done
else
  tf=$FFI_TARGET_FEATURES
fi
rustflags="--print native-static-libs${tf:+ -C target-feature=$tf}"
ffi_key=$(echo "$FFI_VERSION|$FFI_FEATURES|$tf|$(rustc --version)" | sha256sum | cut -c1-12)
fc=$LOTUS_DEVNET_CACHE/filcrypto/$FFI_VERSION-$ffi_key
export CARGO_TARGET_DIR=$LOTUS_BUILD_DIR/ffi-target/$FFI_VERSION

if [ ! -f "$fc/filcrypto.pc" ]; then
  log "building libfilcrypto (features $FFI_FEATURES; target features ${tf:-none})"
  (cd "$ffi_dir/rust" && timed ffi-fetch cargo fetch --locked)
  (cd "$ffi_dir/rust" && RUSTFLAGS="$rustflags" timed ffi-cargo-build \
      $NICE cargo build --release --locked --no-default-features --features "$FFI_FEATURES")
  libs=$(grep -m1 'native-static-libs:' "$logs/ffi-cargo-build.log" | cut -d: -f3- | sed 's/^ *//' || true)
  if [ -z "$libs" ]; then
    # cargo only prints the note when it links; force a relink of the filcrypto crate
    touch "$ffi_dir/rust/src/lib.rs"
    (cd "$ffi_dir/rust" && RUSTFLAGS="$rustflags" timed ffi-cargo-relink \
        $NICE cargo build --release --locked --no-default-features --features "$FFI_FEATURES")
    libs=$(grep -m1 'native-static-libs:' "$logs/ffi-cargo-relink.log" | cut -d: -f3- | sed 's/^ *//')
  fi
  [ -n "$libs" ] || die "could not read the native static libs of libfilcrypto"
  rm -rf "$fc.tmp" && mkdir -p "$fc.tmp"
  # filcrypto.h: upstream runs a debug `cargo test` for it (a second full build of the
  # dependency tree); with --release and the same features most artifacts are reused.
  (cd "$ffi_dir/rust" && RUSTFLAGS="$rustflags" HEADER_DIR="$fc.tmp" timed ffi-headers \
      $NICE cargo test --release --locked --no-default-features --features "$FFI_FEATURES,c-headers" build_headers)
  cp "$CARGO_TARGET_DIR/release/libfilcrypto.a" "$fc.tmp/"
  sed -e "s;@VERSION@;$FFI_VERSION;" -e "s;@PRIVATE_LIBS@;$libs;" \
      "$ffi_dir/rust/filcrypto.pc.template" >"$fc.tmp/filcrypto.pc"
  [ -s "$fc.tmp/filcrypto.h" ] || die "filcrypto.h was not generated"
  rm -rf "$fc" && mv "$fc.tmp" "$fc"
fi
for f in libfilcrypto.a filcrypto.h filcrypto.pc; do
  cmp -s "$fc/$f" "$ffi_dir/$f" || cp "$fc/$f" "$ffi_dir/$f"
done

# ---------------------------------------------------------------- lotus binaries (go, -tags=2k)
bindir=$LOTUS_DEVNET_CACHE/$LOTUS_VERSION-2k/bin
bin_stamp="$prep_stamp $ffi_key $(go env GOVERSION)"
mkdir -p "$bindir"
if [ "$(cat "$bindir/.stamp" 2>/dev/null)" != "$bin_stamp" ]; then
  rm -f "$bindir/.stamp"
fi
ldflags="-X=github.com/filecoin-project/lotus/build.CurrentCommit=+git.${lotus_rev:0:9}+devnet-offline"
for b in lotus lotus-miner lotus-seed; do
  if [ ! -f "$bindir/.stamp" ] || [ ! -x "$bindir/$b" ]; then
    (cd "$src" && timed "go-build-$b" $NICE go build -tags=2k -ldflags="$ldflags" -o "$bindir/$b.tmp" "./cmd/$b")
    mv "$bindir/$b.tmp" "$bindir/$b"
  fi
done
echo "$bin_stamp" >"$bindir/.stamp"
ln -sfn "$bindir" "$LOTUS_DEVNET_CACHE/bin"

"$bindir/lotus" --version
log "done: binaries in $bindir (also $LOTUS_DEVNET_CACHE/bin)"
