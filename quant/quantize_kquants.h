// llama.cpp's reference quantizers of the K-quant formats (Q2_K .. Q6_K, FORMATS.md §3): what
// llama-quantize writes without an importance matrix. Each takes n floats (a multiple of 256).
#pragma once

#include "quant/formats.h"
#include "quant/ggml_type.h"

namespace qlm {

// The K-quant reference quantizer of t, or nullptr when t is not a K-quant qlm can write.
QuantizeRowFn kquant_quantize_row(GgmlType t);

// Fills the format table's quantize_row slot of Q2_K..Q6_K with these quantizers (set_quantize_row).
// Runs at static initialization whenever this file is linked in; calling it again is harmless.
void register_kquant_quantizers();

// The quantizer llama-quantize would use to write weights of type t: the format table's
// quantize_row when the format is registered there, else the K-quant quantizer; nullptr when
// qlm cannot write t.
QuantizeRowFn reference_quantize_row(GgmlType t);

}  // namespace qlm
