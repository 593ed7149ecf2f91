// Error-minimising IQ4_NL / IQ4_XS blocks, the IQ4 entries of the searched quantizers
// (quant/quantize_search.h): like llama.cpp's rule (quantize_iq4.cpp) they try several starting
// scales per 32-element group, but measure each candidate by the weighted squared error of the
// stored (f16, coded) scale, from both ends of the grid, and for IQ4_XS also search the super-block
// scale and each sub-block's neighbouring scale codes.
#pragma once

namespace qlm {

// One block (32 floats for IQ4_NL, 256 for IQ4_XS) with one non-negative weight per element into
// `out` (one block); deterministic.
void iq4_nl_block_searched(const float* x, const float* w, void* out);
void iq4_xs_block_searched(const float* x, const float* w, void* out);

}  // namespace qlm
