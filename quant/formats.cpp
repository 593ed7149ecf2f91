#include "quant/formats.h"

#include <array>

#include "quant/format_bf16.h"
#include "quant/format_f16.h"
#include "quant/format_f32.h"
#include "quant/format_iq4_nl.h"
#include "quant/format_iq4_xs.h"
#include "quant/format_q2_k.h"
#include "quant/format_q3_k.h"
#include "quant/format_q4_0.h"
#include "quant/format_q4_1.h"
#include "quant/format_q4_k.h"
#include "quant/format_q5_0.h"
#include "quant/format_q5_1.h"
#include "quant/format_q5_k.h"
#include "quant/format_q6_k.h"
#include "quant/format_q8_0.h"
#include "quant/format_q8_1.h"
#include "quant/format_q8_k.h"
#include "src/util/error.h"

namespace qlm {

namespace {
template <class F>
void dequantize_fn(const void* src, float* dst, int64_t n) {
    F::dequantize_row(static_cast<const typename F::Block*>(src), dst, n);
}
template <class F>
void quantize_fn(const float* src, void* dst, int64_t n) {
    F::quantize_row(src, static_cast<typename F::Block*>(dst), n);
}
// Formats whose activation rule differs from the weight rule define quantize_row_activation.
template <class F>
constexpr QuantizeRowFn quantize_activation_fn() {
    if constexpr (requires(const float* x, typename F::Block* y, int64_t n) {
                      F::quantize_row_activation(x, y, n);
                  })
        return [](const float* src, void* dst, int64_t n) {
            F::quantize_row_activation(src, static_cast<typename F::Block*>(dst), n);
        };
    else
        return quantize_fn<F>;
}
// The reference dot; the activation blocks are the weight's own type unless the traits name ActBlock.
template <class F>
struct ActBlockOf {
    using type = typename F::Block;
};
template <class F>
    requires requires { typename F::ActBlock; }
struct ActBlockOf<F> {
    using type = typename F::ActBlock;
};
template <class F>
float vec_dot_fn(int64_t n, const void* w, const void* a) {
    return F::vec_dot(n, static_cast<const typename F::Block*>(w), static_cast<const typename ActBlockOf<F>::type*>(a));
}
template <class F>
constexpr FormatOps make_ops() {
    constexpr bool weight_format = !requires { F::activation_only; };
    return FormatOps{F::type,           F::vec_dot_type,
                     F::block_size,     sizeof(typename F::Block),
                     alignof(typename F::Block), dequantize_fn<F>,
                     quantize_fn<F>,    weight_format,
                     quantize_activation_fn<F>(), vec_dot_fn<F>};
}

constexpr std::array<FormatOps, 17> kFormats = {
    make_ops<FormatF32>(),  make_ops<FormatF16>(),    make_ops<FormatBF16>(),   make_ops<FormatQ8_0>(),
    make_ops<FormatQ8_1>(), make_ops<FormatQ4_0>(),   make_ops<FormatQ4_1>(),   make_ops<FormatQ5_0>(),
    make_ops<FormatQ5_1>(), make_ops<FormatQ8_K>(),   make_ops<FormatQ2_K>(),   make_ops<FormatQ3_K>(),
    make_ops<FormatQ4_K>(), make_ops<FormatQ5_K>(),   make_ops<FormatQ6_K>(),   make_ops<FormatIQ4_NL>(),
    make_ops<FormatIQ4_XS>(),
};

}  // namespace

const FormatOps* find_format(GgmlType t) {
    for (const auto& f : kFormats)
        if (f.type == t) return &f;
    return nullptr;
}

const FormatOps& format_ops(GgmlType t) {
    if (const FormatOps* f = find_format(t)) return *f;
    throw_error("tensor type {} cannot be computed by qlm yet", type_name(t));
}

std::span<const FormatOps> all_formats() { return kFormats; }

}  // namespace qlm
