#!/usr/bin/env bash
# Installs, with apt-get (Debian/Ubuntu) and only where missing, what mcuq calls besides Python:
# a host C compiler (the generated C is built and checked on this machine), make, cmake (the
# output folders' CMake builds are tested), the Arm GNU
# toolchain with newlib (firmware), QEMU (runs the firmware of emulated boards) and clang (a second
# compiler the tests check the C with). About 150 MB.
set -euo pipefail

missing=0
for tool in cc make cmake arm-none-eabi-gcc qemu-system-arm clang; do
    command -v "$tool" >/dev/null 2>&1 || missing=1
done
[ "$missing" = 0 ] && exit 0

if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends gcc libc6-dev make cmake gcc-arm-none-eabi \
    libnewlib-arm-none-eabi qemu-system-arm clang
