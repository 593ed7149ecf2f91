// A software prefetch of one cache line into L1 that the compiler keeps. GCC 12's dead-code
// elimination drops __builtin_prefetch in loops whose only effect is the prefetch (a loop over a
// span's rows, before the kernel that reads them), so on x86 the instruction is written out.
#pragma once

namespace qlm {

inline void prefetch_line(const void* p) {
#if defined(__x86_64__) || defined(__i386__)
    asm volatile("prefetcht0 %0" : : "m"(*static_cast<const char*>(p)));
#else
    __builtin_prefetch(p);
#endif
}

}  // namespace qlm
