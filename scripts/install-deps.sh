#!/usr/bin/env bash
# Installs the Debian 12 packages fewshot needs to build, run and test
# (clang and its runtime libraries build the sanitizer and libFuzzer
# targets), skipping the apt round trip when everything is already there.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config
  libtorch-dev libopenblas0-openmp
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev prometheus-cpp-dev libcpp-httplib-dev libgloo-dev
  libpng-dev libzip-dev nlohmann-json3-dev libhiredis-dev redis-server
  libgoogle-perftools-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-14-dev
)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null |
      grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

if ((${#missing[@]} > 0)); then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# LibTorch must find the OpenMP OpenBLAS, not the reference BLAS (about 30x
# slower); the package registers itself as the preferred alternative.
blas=$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 || true)
case "$blas" in
  *openblas*) ;;
  *) echo "warning: libblas.so.3 resolves to '$blas', not OpenBLAS" >&2 ;;
esac
