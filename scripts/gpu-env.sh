# Source this after scripts/gpu-build.sh: the unpacked Debian libraries on the library path.
export LD_LIBRARY_PATH="/tmp/repux-deps/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}"
