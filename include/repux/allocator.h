#pragma once
// Which malloc serves this process. repux links tcmalloc (gperftools, from Debian) because LibTorch
// allocates large CPU tensors afresh for nearly every operation: glibc serves each one with a new
// mmap whose pages are faulted in and zeroed again, which on virtual machines cost as much as the
// arithmetic (see the README's CPU section). tcmalloc keeps and reuses those pages.
#include <string>

namespace repux {

// The shared object that `malloc` resolves to at run time, e.g. "libtcmalloc_minimal.so.4" or
// "libc.so.6" (file name only).
std::string active_allocator();

}  // namespace repux
