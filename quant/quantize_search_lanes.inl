// The searched quantizers' arithmetic (quantize_search_lanes.h), written once over a lane type L
// and included by each ISA's file after it defines L. L provides, per lane:
//   W (lanes), V (W floats), M (W-lane mask);
//   splat, load, store (64-byte aligned), + − * / (IEEE, never fused implicitly: the files are built
//   with -ffp-contract=off), fma(a, b, c) = a·b + c rounded once, vmin(a, b) = a < b ? a : b, vmax(a, b) = a > b ? a : b (x86 minps/maxps:
//   a NaN gives b), vabs, vround (to nearest, ties to even), vtrunc (toward zero), f16r (round to
//   binary16 and back), lt le gt ge eq ne (ne is true for NaN), finite, mand mor mnot,
//   select(m, a, b) = m ? a : b, any(m).
// No function here has a cross-lane step except any() used to skip work no lane needs, and a
// lane's result never depends on a skipped step, so each lane's result is the scalar build's.
//
// The search (quant/quantize_search.h): for one group with one scale (and offset), candidate
// scales on a grid are screened with one pass each, which assigns the codes by rounding and sums
// Σwxq, Σwq² (Σwq); the least-squares scale (and offset) for those codes gives each candidate's
// error in closed form. The best candidate is then refined: re-assign the codes, measure the
// error directly, refit, a few rounds. K-quants code the sub-block results on super-block scales
// and refine those jointly (kquant_asym / kquant_sym). The legacy formats' results compete with
// their reference rule's encoding, computed here too (ref_sym / ref_asym).
// No #include: the including file includes <cmath>, <cstdint> and this file's headers first.

namespace {

// The screened candidates of one group: scales mapping the extreme value to |q_extreme| + step·k,
// k = −steps..steps (both extremes for one scale; q_max from the minimum for scale and offset), for
// scale and offset `fits` passes of code assignment + 2×2 least-squares fit per candidate; then
// `refine` rounds of assign, measure, refit for the winner.
struct Grid {
    int steps;
    float step;
    int fits, refine;
};
// The legacy formats, whose f16 neighbours are tried after the refinement (each setting the
// cheapest that kept kjv-8M's error at or below the 42-candidate search's).
constexpr Grid kLegacySymGrid{5, 0.2f, 1, 2};
constexpr Grid kLegacyAsymGrid{5, 0.2f, 2, 2};
// The sub-blocks of Q2_K, Q4_K, Q5_K, whose results the super-block rounds then refine: 3 fits
// matter here (2 lose 0.2% of the squared error on kjv-8M), halving the grid costs 0.04%.
constexpr Grid kAsymSubGrid{5, 0.2f, 3, 3};
// v·(1 ± kF16Nudge) rounds to v's next f16 value away from / toward zero (for normal f16 v: the
// product moves v by 0.7·m ulp, m in [1, 2) its mantissa).
constexpr float kF16Nudge = 0.7f / 1024.f;
constexpr int kSuperRounds = 4;    // super-block rounds of Q2_K, Q4_K, Q5_K
constexpr float kInf = __builtin_huge_valf();
constexpr float kLsDetMin = 1e-6f;  // a 2×2 least-squares fit needs det > kLsDetMin·(diagonal product)

// kUnitW: every weight is 1 (BlockGroup::unit_w), so the weight loads and products drop out; the
// results are those of weights all 1 bit for bit (1·v = v exactly).
template <class L, bool kUnitW>
struct Search {
    using V = typename L::V;
    using M = typename L::M;
    static constexpr int W = L::W;

    static V at(const float* p, int i) { return L::load(p + i * W); }
    static V wt(const float* w, int i) {
        if constexpr (kUnitW)
            return L::splat(1.f);
        else
            return at(w, i);
    }
    static void put(float* p, int i, V v) { L::store(p + i * W, v); }
    static V zero() { return L::splat(0.f); }

    // round(v) clamped to [lo, hi]; NaN gives lo.
    static V code(V v, V lo, V hi) { return L::vmin(L::vmax(L::vround(v), lo), hi); }

    // dst[i] = m ? src[i] : dst[i] for n elements.
    static void keep(M m, float* dst, const float* src, int n) {
        for (int i = 0; i < n; ++i) put(dst, i, L::select(m, at(src, i), at(dst, i)));
    }

    // A least-squares scale r (f16-rounded when round16) that is usable: b = Σwq² > 0, r finite
    // and non-zero.
    static M usable(V b, V r) { return L::mand(L::gt(b, zero()), L::mand(L::ne(r, zero()), L::finite(r))); }

    // A sum over the elements of a group in 4 interleaved partial sums (element i into p[i % 4]),
    // so consecutive additions do not wait on each other; every loop over elements steps by 4
    // (group sizes are multiples of 16).
    struct Sum4 {
        // A written constructor, not default member initializers: clang gives the file's target
        // attribute (quantize_search_avx512.cpp) to written functions only, and an implicit
        // constructor returning 512-bit values without it does not compile.
        Sum4() : p{zero(), zero(), zero(), zero()} {}
        V p[4];
        V total() const { return (p[0] + p[1]) + (p[2] + p[3]); }
    };

    // ---- one group, one scale: x ≈ s·q, q in [qmin, qmax] ----

    // Returns s (an f16 value when round16) and the codes in q, the weighted error in *err. A lane
    // whose values are all 0 (or where no candidate is usable) gets s = 0, q = 0.
    static V sym(const float* x, const float* w, int n, int qmin, int qmax, bool round16, const Grid& grid, float* q, V* err) {
        V amax = zero(), xm = zero(), e0 = zero();
        alignas(64) float wx[32 * W];
        for (int i = 0; i < n; ++i) {
            const V xi = at(x, i), a = L::vabs(xi);
            const M gt = L::gt(a, amax);
            amax = L::select(gt, a, amax);
            xm = L::select(gt, xi, xm);
            const V wxi = wt(w, i) * xi;
            put(wx, i, wxi);
            e0 = e0 + wxi * xi;
        }
        const M live = L::mand(L::gt(amax, L::splat(1e-30f)), L::finite(amax));
        const V lo = L::splat(static_cast<float>(qmin)), hi = L::splat(static_cast<float>(qmax));
        // Screening: the candidate's codes, then the least-squares scale c for them; the error
        // at c minus Σwx² is c·(c·Σwq² − 2Σwxq).
        V best_d = L::splat(kInf), best_s = zero();
        for (int target : {qmin, qmax}) {
            for (int k = -grid.steps; k <= grid.steps; ++k) {
                const float t = static_cast<float>(target < 0 ? -target : target) + grid.step * static_cast<float>(k);
                if (t < 0.5f) continue;
                V s = xm / L::splat(target < 0 ? -t : t);
                if (round16) s = L::f16r(s);
                const M ok = L::mand(L::ne(s, zero()), L::finite(s));
                const V is = L::splat(1.f) / s;
                Sum4 sa, sb;
                for (int i0 = 0; i0 < n; i0 += 4)
                    for (int part = 0; part < 4; ++part) {
                        const int i = i0 + part;
                        const V qi = code(at(x, i) * is, lo, hi);
                        sa.p[part] = L::fma(at(wx, i), qi, sa.p[part]);
                        sb.p[part] = L::fma(wt(w, i) * qi, qi, sb.p[part]);
                    }
                const V a = sa.total(), b = sb.total();
                V r = a / b;
                if (round16) r = L::f16r(r);
                const V c = L::select(usable(b, r), r, s);
                const V d = c * (c * b - (a + a));
                const M better = L::mand(ok, L::lt(d, best_d));
                best_d = L::select(better, d, best_d);
                best_s = L::select(better, c, best_s);
            }
        }
        // Refinement of the winner.
        alignas(64) float tq[32 * W];
        for (int i = 0; i < n; ++i) put(q, i, zero());
        V out_s = zero(), best_e = L::splat(kInf), s = best_s;
        for (int round = 0; round < grid.refine; ++round) {
            const V is = L::splat(1.f) / s;
            Sum4 sa, sb, se;
            for (int i0 = 0; i0 < n; i0 += 4)
                for (int part = 0; part < 4; ++part) {
                    const int i = i0 + part;
                    const V xi = at(x, i), wi = wt(w, i);
                    const V qi = code(xi * is, lo, hi);
                    put(tq, i, qi);
                    sa.p[part] = L::fma(at(wx, i), qi, sa.p[part]);
                    sb.p[part] = L::fma(wi * qi, qi, sb.p[part]);
                    const V dd = xi - s * qi;
                    se.p[part] = L::fma(wi * dd, dd, se.p[part]);
                }
            const V a = sa.total(), b = sb.total(), e = se.total();
            const M better = L::mand(L::ne(s, zero()), L::lt(e, best_e));
            best_e = L::select(better, e, best_e);
            out_s = L::select(better, s, out_s);
            keep(better, q, tq, n);
            V r = a / b;
            if (round16) r = L::f16r(r);
            s = L::select(usable(b, r), r, s);
        }
        // An f16 scale: the least-squares scale's f16 neighbours may be closer still.
        if (round16)
            for (const float f : {1.f + kF16Nudge, 1.f - kF16Nudge}) {
                const V s2 = L::f16r(out_s * L::splat(f)), is = L::splat(1.f) / s2;
                Sum4 se;
                for (int i0 = 0; i0 < n; i0 += 4)
                    for (int part = 0; part < 4; ++part) {
                        const int i = i0 + part;
                        const V xi = at(x, i), qi = code(xi * is, lo, hi), dd = xi - s2 * qi;
                        put(tq, i, qi);
                        se.p[part] = L::fma(wt(w, i) * dd, dd, se.p[part]);
                    }
                const V e = se.total();
                const M better = L::mand(L::mand(L::ne(s2, zero()), L::finite(s2)), L::lt(e, best_e));
                best_e = L::select(better, e, best_e);
                out_s = L::select(better, s2, out_s);
                keep(better, q, tq, n);
            }
        const M use = L::mand(live, L::ne(out_s, zero()));
        for (int i = 0; i < n; ++i) put(q, i, L::select(use, at(q, i), zero()));
        *err = L::select(use, best_e, e0);
        return L::select(use, out_s, zero());
    }

    // min(top, trunc(v)) as the legacy reference rules' int8 conversion gives it on x86 for v ≥ 0:
    // a value that is not finite (a scale so small that its inverse overflows) gives code 0.
    static V trunc_code(V v, V top) {
        return L::select(L::lt(v, L::splat(2147483648.f)), L::vmin(L::vtrunc(v), top), zero());
    }

    // The reference rule of Q4_0/Q5_0 (FORMATS.md §3): d = max/qmin, codes
    // min(qmax − qmin, trunc(x/d − qmin + 0.5)), stored as f16(d)·(code + qmin). Returns f16(d), the
    // codes (minus the offset) in q and the weighted error in *err.
    static V ref_sym(const float* x, const float* w, int qmin, int qmax, float* q, V* err) {
        V amax = zero(), xm = zero();
        for (int i = 0; i < 32; ++i) {
            const V xi = at(x, i), a = L::vabs(xi);
            const M gt = L::gt(a, amax);
            amax = L::select(gt, a, amax);
            xm = L::select(gt, xi, xm);
        }
        const V d = xm / L::splat(static_cast<float>(qmin));
        const V id = L::select(L::ne(d, zero()), L::splat(1.f) / d, zero());
        const V s = L::f16r(d), off = L::splat(0.5f - static_cast<float>(qmin));
        const V top = L::splat(static_cast<float>(qmax - qmin)), base = L::splat(static_cast<float>(qmin));
        V e = zero();
        for (int i = 0; i < 32; ++i) {
            const V xi = at(x, i);
            const V qi = trunc_code(xi * id + off, top) + base;
            put(q, i, qi);
            const V dd = xi - s * qi;
            e = e + wt(w, i) * dd * dd;
        }
        *err = e;
        return s;
    }

    // ---- one group, scale and offset: x ≈ s·q + m, q in [0, qmax], s > 0 ----

    struct Sums {  // of one set of codes: Σwq, Σwq², Σwxq
        V sq, sqq, sxq;
    };
    struct Fixed {  // of the values: Σw, Σwx
        V sw, sx;
    };

    // The least-squares (s, m) for codes with sums u; min_nonpos pins a positive m to 0. Lanes
    // where the fit is degenerate keep (s, m).
    static void fit_asym(const Fixed& f, const Sums& u, bool min_nonpos, bool round16, V& s, V& m) {
        const V det = f.sw * u.sqq - u.sq * u.sq;
        M ok = L::mand(L::gt(det, L::splat(kLsDetMin) * (f.sw * u.sqq)), L::gt(det, zero()));
        V ns = (f.sw * u.sxq - u.sq * f.sx) / det;
        V nm = (u.sqq * f.sx - u.sq * u.sxq) / det;
        if (min_nonpos) {
            const M pos = L::gt(nm, zero());
            nm = L::select(pos, zero(), nm);
            ns = L::select(pos, u.sxq / u.sqq, ns);
        }
        if (round16) {
            ns = L::f16r(ns);
            nm = L::f16r(nm);
        }
        ok = L::mand(ok, L::mand(L::gt(ns, zero()), L::mand(L::finite(ns), L::finite(nm))));
        s = L::select(ok, ns, s);
        m = L::select(ok, nm, m);
    }

    // Codes for (s, m) into q (when q is not null) with their sums, and the direct error in *e.
    static Sums assign_asym(const float* x, const float* w, const float* wx, int n, V s, V m, V qmax, float* q, V* e) {
        const V is = L::splat(1.f) / s;
        Sum4 sq, sqq, sxq, se;
        for (int i0 = 0; i0 < n; i0 += 4)
            for (int part = 0; part < 4; ++part) {
                const int i = i0 + part;
                const V xi = at(x, i), wi = wt(w, i);
                const V qi = code((xi - m) * is, zero(), qmax);
                sq.p[part] = L::fma(wi, qi, sq.p[part]);
                sqq.p[part] = L::fma(wi * qi, qi, sqq.p[part]);
                sxq.p[part] = L::fma(at(wx, i), qi, sxq.p[part]);
                if (q) {
                    put(q, i, qi);
                    const V dd = xi - (s * qi + m);
                    se.p[part] = L::fma(wi * dd, dd, se.p[part]);
                }
            }
        if (e) *e = se.total();
        return Sums{sq.total(), sqq.total(), sxq.total()};
    }

    // Returns s (≥ 0) and m in *m_out (≤ 0 when min_nonpos), the codes in q, the weighted error
    // in *err. round16: s and m are f16 values. The constant block (all codes 0) is a candidate too.
    static V asym(const float* x, const float* w, int n, int qmax_i, bool min_nonpos, bool round16, const Grid& grid,
                  float* q, V* m_out, V* err) {
        V mn = at(x, 0), mx = mn;
        alignas(64) float wx[32 * W];
        Fixed f{zero(), zero()};
        for (int i = 0; i < n; ++i) {
            const V xi = at(x, i), wi = wt(w, i);
            if (i > 0) {
                mn = L::vmin(xi, mn);
                mx = L::vmax(xi, mx);
            }
            const V wxi = wi * xi;
            put(wx, i, wxi);
            f.sw = f.sw + wi;
            f.sx = f.sx + wxi;
        }
        if (min_nonpos) mn = L::vmin(zero(), mn);
        V m0 = mn;
        if (round16) m0 = L::f16r(m0);
        V e0 = zero();
        for (int i = 0; i < n; ++i) {
            const V dd = at(x, i) - m0;
            e0 = e0 + wt(w, i) * dd * dd;
        }
        const V range = mx - mn, qmax = L::splat(static_cast<float>(qmax_i));
        const M live = L::mand(L::gt(range, L::splat(1e-30f)), L::finite(range));
        V best_d = L::splat(kInf), best_s = zero(), best_m = zero();
        for (int k = -grid.steps; k <= grid.steps; ++k) {
            const float t = static_cast<float>(qmax_i) + grid.step * static_cast<float>(k);
            if (t < 0.5f) continue;
            V s = range / L::splat(t), m = mn;
            if (round16) {
                s = L::f16r(s);
                m = L::f16r(m);
            }
            const M ok = L::mand(L::gt(s, zero()), L::finite(s));
            Sums u = assign_asym(x, w, wx, n, s, m, qmax, nullptr, nullptr);
            fit_asym(f, u, min_nonpos, round16, s, m);
            for (int it = 1; it < grid.fits; ++it) {
                u = assign_asym(x, w, wx, n, s, m, qmax, nullptr, nullptr);
                fit_asym(f, u, min_nonpos, round16, s, m);
            }
            // error − Σwx² at (s, m) with these codes
            const V d = s * (s * u.sqq - (u.sxq + u.sxq)) + m * (m * f.sw - (f.sx + f.sx)) + (s + s) * m * u.sq;
            const M better = L::mand(ok, L::lt(d, best_d));
            best_d = L::select(better, d, best_d);
            best_s = L::select(better, s, best_s);
            best_m = L::select(better, m, best_m);
        }
        alignas(64) float tq[32 * W];
        for (int i = 0; i < n; ++i) put(q, i, zero());
        V out_s = zero(), out_m = m0, best_e = e0, s = best_s, m = best_m;
        const M searched = L::mand(live, L::lt(best_d, L::splat(kInf)));
        for (int round = 0; round < grid.refine; ++round) {
            V e;
            const Sums u = assign_asym(x, w, wx, n, s, m, qmax, tq, &e);
            const M better = L::mand(searched, L::lt(e, best_e));
            best_e = L::select(better, e, best_e);
            out_s = L::select(better, s, out_s);
            out_m = L::select(better, m, out_m);
            keep(better, q, tq, n);
            fit_asym(f, u, min_nonpos, round16, s, m);
        }
        // f16 scale and offset: their f16 neighbours, one at a time.
        if (round16) {
            constexpr float kUp = 1.f + kF16Nudge, kDown = 1.f - kF16Nudge;
            constexpr float kSteps[4][2] = {{kUp, 1.f}, {kDown, 1.f}, {1.f, kUp}, {1.f, kDown}};
            for (const auto& f2 : kSteps) {
                const V s2 = L::f16r(out_s * L::splat(f2[0])), m2 = L::f16r(out_m * L::splat(f2[1]));
                V e;
                assign_asym(x, w, wx, n, s2, m2, qmax, tq, &e);
                const M ok = L::mand(searched, L::mand(L::gt(s2, zero()), L::finite(s2)));
                const M better = L::mand(ok, L::lt(e, best_e));
                best_e = L::select(better, e, best_e);
                out_s = L::select(better, s2, out_s);
                out_m = L::select(better, m2, out_m);
                keep(better, q, tq, n);
            }
        }
        *m_out = out_m;
        *err = best_e;
        return out_s;
    }

    // The reference rule of Q4_1/Q5_1 (FORMATS.md §3): d = (max − min)/qmax, codes
    // min(qmax, trunc((x − min)/d + 0.5)), stored as f16(d)·code + f16(min). Returns f16(d),
    // f16(min) in *m_out, the codes in q and the weighted error in *err.
    static V ref_asym(const float* x, const float* w, int qmax_i, float* q, V* m_out, V* err) {
        V mn = at(x, 0), mx = mn;
        for (int i = 1; i < 32; ++i) {
            mn = L::vmin(at(x, i), mn);
            mx = L::vmax(at(x, i), mx);
        }
        const V qmax = L::splat(static_cast<float>(qmax_i));
        const V d = (mx - mn) / qmax;
        const V id = L::select(L::ne(d, zero()), L::splat(1.f) / d, zero());
        const V s = L::f16r(d), m = L::f16r(mn), half = L::splat(0.5f);
        V e = zero();
        for (int i = 0; i < 32; ++i) {
            const V xi = at(x, i);
            const V qi = trunc_code((xi - mn) * id + half, qmax);
            put(q, i, qi);
            const V dd = xi - (qi * s + m);
            e = e + wt(w, i) * dd * dd;
        }
        *m_out = m;
        *err = e;
        return s;
    }

    // ---- K-quants with sub-block scales and mins (Q2_K, Q4_K, Q5_K): x = d·sc_j·q − dmin·mc_j ----

    struct KAsym {
        int nsub, sub, qmax, scmax;
    };

    // The codes of sub-block j for scale code sc and min code mc against (D, DM); keeps the best
    // per lane in csc, cmc and the block codes cq. ok: lanes where (sc, mc) is a valid pair.
    static void try_asym_pair(const float* x, const float* w, const KAsym& p, int j, V D, V DM, V sc, V mc, M ok,
                              V& best, float* csc, float* cmc, float* cq) {
        const V ds = D * sc, dm = DM * mc, ids = L::splat(1.f) / ds, qmax = L::splat(static_cast<float>(p.qmax));
        const M pos = L::gt(ds, zero());
        alignas(64) float tq[32 * W];
        Sum4 se;
        for (int i0 = 0; i0 < p.sub; i0 += 4)
            for (int part = 0; part < 4; ++part) {
                const int i = i0 + part;
                const V xi = at(x, i), wi = wt(w, i);
                const V qi = L::select(pos, code((xi + dm) * ids, zero(), qmax), zero());
                put(tq, i, qi);
                const V dd = xi - (ds * qi - dm);
                se.p[part] = L::fma(wi * dd, dd, se.p[part]);
            }
        const V e = se.total();
        const M better = L::mand(ok, L::lt(e, best));
        best = L::select(better, e, best);
        put(csc, j, L::select(better, sc, at(csc, j)));
        put(cmc, j, L::select(better, mc, at(cmc, j)));
        keep(better, cq + j * p.sub * W, tq, p.sub);
    }

    // Least-squares D, DM for the fixed integers: x ≈ D·(sc·q) − DM·mc. Lanes where the fit fails
    // leave `active`.
    static void refit_asym(const float* x, const float* w, const KAsym& p, const float* csc, const float* cmc,
                           const float* cq, M& active, V& D, V& DM) {
        V saa = zero(), sbb = zero(), sab = zero(), sxa = zero(), sxb = zero();
        for (int j = 0; j < p.nsub; ++j) {
            const V scj = at(csc, j), b = zero() - at(cmc, j);
            for (int i = 0; i < p.sub; ++i) {
                const int e = j * p.sub + i;
                const V wi = wt(w, e), wxi = wi * at(x, e), a = scj * at(cq, e);
                saa = saa + wi * a * a;
                sbb = sbb + wi * b * b;
                sab = sab + wi * a * b;
                sxa = sxa + wxi * a;
                sxb = sxb + wxi * b;
            }
        }
        const V det = saa * sbb - sab * sab;
        const M joint = L::mand(L::gt(sbb, zero()), L::gt(det, L::splat(kLsDetMin) * saa * sbb));
        const M has_a = L::gt(saa, zero());
        const V d_alone = L::select(has_a, sxa / saa, zero());
        V nD = (sxa * sbb - sxb * sab) / det, nDM = (saa * sxb - sab * sxa) / det;
        const M neg = L::lt(nDM, zero());
        nD = L::select(neg, d_alone, nD);
        nDM = L::select(neg, zero(), nDM);
        nD = L::select(joint, nD, L::select(has_a, d_alone, D));
        nDM = L::select(joint, nDM, DM);
        active = L::mand(active, L::mand(L::ge(nD, zero()), L::mand(L::finite(nD), L::finite(nDM))));
        D = L::select(active, nD, D);
        DM = L::select(active, nDM, DM);
    }

    static void kquant_asym(const BlockGroup& g, const KAsym& p) {
        alignas(64) float s[kMaxSub * W], mn[kMaxSub * W], csc[kMaxSub * W], cmc[kMaxSub * W];
        alignas(64) float cq[kMaxBlock * W];
        V max_s = zero(), max_m = zero();
        for (int j = 0; j < p.nsub; ++j) {
            V m, e;
            const V sj = asym(g.x + j * p.sub * W, g.w + j * p.sub * W, p.sub, p.qmax, true, false, kAsymSubGrid,
                              cq + j * p.sub * W, &m, &e);
            const V mj = zero() - m;
            put(s, j, sj);
            put(mn, j, mj);
            max_s = L::vmax(sj, max_s);
            max_m = L::vmax(mj, max_m);
        }
        const int n = p.nsub * p.sub;
        for (int i = 0; i < n; ++i) put(g.q, i, zero());
        for (int j = 0; j < kMaxSub; ++j) {
            put(g.sc, j, zero());
            put(g.mc, j, zero());
            put(csc, j, zero());
            put(cmc, j, zero());
        }
        V od = zero(), odm = zero(), best_total = L::splat(kInf);
        const V scmax = L::splat(static_cast<float>(p.scmax));
        M active = L::mor(L::gt(max_s, zero()), L::gt(max_m, zero()));
        V D = max_s / scmax, DM = max_m / scmax;
        for (int round = 0; round < kSuperRounds; ++round) {
            const V Df = L::f16r(D), DMf = L::f16r(DM);
            active = L::mand(active, L::mand(L::mand(L::ge(Df, zero()), L::finite(Df)),
                                             L::mand(L::ge(DMf, zero()), L::finite(DMf))));
            if (!L::any(active)) break;
            V total = zero();
            for (int j = 0; j < p.nsub; ++j) {
                const float* xs = g.x + j * p.sub * W;
                const float* ws = g.w + j * p.sub * W;
                const V sc0 = L::select(L::gt(Df, zero()), code(at(s, j) / Df, zero(), scmax), zero());
                const V mc0 = L::select(L::gt(DMf, zero()), code(at(mn, j) / DMf, zero(), scmax), zero());
                V bj = L::splat(kInf);
                for (int dsc = -1; dsc <= 1; ++dsc) {
                    const V sc = sc0 + L::splat(static_cast<float>(dsc));
                    const M ok_sc = L::mand(L::ge(sc, zero()), L::le(sc, scmax));
                    for (int dmc = -1; dmc <= 1; ++dmc) {
                        const V mc = mc0 + L::splat(static_cast<float>(dmc));
                        M ok = L::mand(ok_sc, L::mand(L::ge(mc, zero()), L::le(mc, scmax)));
                        ok = L::mand(ok, L::mnot(L::mand(L::eq(DMf, zero()), L::ne(mc, zero()))));
                        if (!L::any(ok)) continue;
                        try_asym_pair(xs, ws, p, j, Df, DMf, sc, mc, ok, bj, csc, cmc, cq);
                    }
                }
                total = total + bj;
            }
            const M improved = L::mand(active, L::lt(total, best_total));
            best_total = L::select(improved, total, best_total);
            od = L::select(improved, Df, od);
            odm = L::select(improved, DMf, odm);
            keep(improved, g.sc, csc, p.nsub);
            keep(improved, g.mc, cmc, p.nsub);
            keep(improved, g.q, cq, n);
            refit_asym(g.x, g.w, p, csc, cmc, cq, active, D, DM);
        }
        L::store(g.d, od);
        L::store(g.m, odm);
        V a[kMaxSub], b[kMaxSub];
        for (int j = 0; j < p.nsub; ++j) {
            a[j] = od * at(g.sc, j);
            b[j] = zero() - odm * at(g.mc, j);
        }
        measure(g, p.nsub, p.sub, a, b);
    }

    // ---- symmetric K-quants (Q3_K, Q6_K): x = d·sc_j·q, 16 sub-blocks of 16 ----

    // A format's codes and scale codes, and its search: the sub-block grid, then `rounds`
    // super-block rounds in which each sub-block tries the scale codes ±reach around its own.
    struct KSym {
        int qmin, qmax, scmin, scmax;
        Grid grid;
        int rounds, reach;
    };

    static void kquant_sym(const BlockGroup& g, const KSym& p) {
        alignas(64) float s[kMaxSub * W], csc[kMaxSub * W], tq[16 * W];
        alignas(64) float cq[kMaxBlock * W];
        V max_abs = zero(), max_s = zero();
        for (int j = 0; j < 16; ++j) {
            V e;
            const V sj = sym(g.x + 16 * j * W, g.w + 16 * j * W, 16, p.qmin, p.qmax, false, p.grid, cq + 16 * j * W, &e);
            put(s, j, sj);
            const M gt = L::gt(L::vabs(sj), max_abs);
            max_abs = L::select(gt, L::vabs(sj), max_abs);
            max_s = L::select(gt, sj, max_s);
        }
        for (int i = 0; i < 256; ++i) put(g.q, i, zero());
        for (int j = 0; j < kMaxSub; ++j) {
            put(g.sc, j, zero());
            put(g.mc, j, zero());
            put(csc, j, zero());
        }
        const V lo = L::splat(static_cast<float>(p.qmin)), hi = L::splat(static_cast<float>(p.qmax));
        const V sclo = L::splat(static_cast<float>(p.scmin)), schi = L::splat(static_cast<float>(p.scmax));
        V od = zero(), best_total = L::splat(kInf);
        M active = L::gt(max_abs, zero());
        // The sub-block scale of largest magnitude starts on the extreme code of its sign.
        V D = max_abs / L::select(L::lt(max_s, zero()), zero() - sclo, schi);
        for (int round = 0; round < p.rounds; ++round) {
            const V Df = L::f16r(D);
            active = L::mand(active, L::mand(L::gt(Df, zero()), L::finite(Df)));
            if (!L::any(active)) break;
            V total = zero();
            for (int j = 0; j < 16; ++j) {
                const float* xs = g.x + 16 * j * W;
                const float* ws = g.w + 16 * j * W;
                const V sc0 = code(at(s, j) / Df, sclo, schi);
                V bj = L::splat(kInf);
                for (int dsc = -p.reach; dsc <= p.reach; ++dsc) {
                    const V sc = sc0 + L::splat(static_cast<float>(dsc));
                    const M ok = L::mand(L::ge(sc, sclo), L::le(sc, schi));
                    if (!L::any(ok)) continue;
                    const V ds = Df * sc, ids = L::splat(1.f) / ds;
                    const M nz = L::ne(ds, zero());
                    Sum4 se;
                    for (int i0 = 0; i0 < 16; i0 += 4)
                        for (int part = 0; part < 4; ++part) {
                            const int i = i0 + part;
                            const V xi = at(xs, i), wi = wt(ws, i);
                            const V qi = L::select(nz, code(xi * ids, lo, hi), zero());
                            put(tq, i, qi);
                            const V dd = xi - ds * qi;
                            se.p[part] = L::fma(wi * dd, dd, se.p[part]);
                        }
                    const V e = se.total();
                    const M better = L::mand(ok, L::lt(e, bj));
                    bj = L::select(better, e, bj);
                    put(csc, j, L::select(better, sc, at(csc, j)));
                    keep(better, cq + 16 * j * W, tq, 16);
                }
                total = total + bj;
            }
            const M improved = L::mand(active, L::lt(total, best_total));
            best_total = L::select(improved, total, best_total);
            od = L::select(improved, Df, od);
            keep(improved, g.sc, csc, 16);
            keep(improved, g.q, cq, 256);
            V saa = zero(), sxa = zero();
            for (int e = 0; e < 256; ++e) {
                const V wi = wt(g.w, e), a = at(csc, e / 16) * at(cq, e);
                saa = saa + wi * a * a;
                sxa = sxa + wi * at(g.x, e) * a;
            }
            const V nD = sxa / saa;
            active = L::mand(active, L::mand(L::gt(saa, zero()), L::mand(L::gt(nD, zero()), L::finite(nD))));
            D = L::select(active, nD, D);
        }
        L::store(g.d, od);
        L::store(g.m, zero());
        V a[16], b[16];
        for (int j = 0; j < 16; ++j) {
            a[j] = od * at(g.sc, j);
            b[j] = zero();
        }
        measure(g, 16, 16, a, b);
    }

    // Each lane's error for its encoding, where sub-block j of `sub` elements dequantizes to
    // a[j]·q + b[j]: Σ (x − x̂)² and Σ x² into g.err and g.norm, and Σ wm·(x − x̂)² into g.werr
    // when the group has measurement weights.
    static void measure(const BlockGroup& g, int nsub, int sub, const V* a, const V* b) {
        V err = zero(), norm = zero(), werr = zero();
        for (int j = 0; j < nsub; ++j)
            for (int i = 0; i < sub; ++i) {
                const int e = j * sub + i;
                const V xi = at(g.x, e), dd = xi - (a[j] * at(g.q, e) + b[j]), d2 = dd * dd;
                err = err + d2;
                norm = norm + xi * xi;
                if (g.wm) werr = werr + at(g.wm, e) * d2;
            }
        L::store(g.err, err);
        L::store(g.norm, norm);
        L::store(g.werr, werr);
    }

    // ---- one group of blocks of format t ----

    // A legacy block's result: the searched (s, m, codes in q) or, where it is not strictly
    // better, the reference rule's (rs, rm, codes in rq).
    static void legacy(const BlockGroup& g, V s, V m, V e, V rs, V rm, V re, const float* rq) {
        const M ref = L::mnot(L::lt(e, re));
        keep(ref, g.q, rq, 32);
        s = L::select(ref, rs, s);
        m = L::select(ref, rm, m);
        L::store(g.d, s);
        L::store(g.m, m);
        measure(g, 1, 32, &s, &m);
    }

    static void legacy_sym(const BlockGroup& g, int qmin, int qmax) {
        alignas(64) float rq[32 * W];
        V e, re;
        const V s = sym(g.x, g.w, 32, qmin, qmax, true, kLegacySymGrid, g.q, &e);
        const V rs = ref_sym(g.x, g.w, qmin, qmax, rq, &re);
        legacy(g, s, zero(), e, rs, zero(), re, rq);
    }

    static void legacy_asym(const BlockGroup& g, int qmax) {
        alignas(64) float rq[32 * W];
        V m, e, rm, re;
        const V s = asym(g.x, g.w, 32, qmax, false, true, kLegacyAsymGrid, g.q, &m, &e);
        const V rs = ref_asym(g.x, g.w, qmax, rq, &rm, &re);
        legacy(g, s, m, e, rs, rm, re, rq);
    }

    // Q8_0's reference rule (FORMATS.md §3): d = amax/127, codes round(x/d) with halves away from
    // zero, clamped to [−128, 127]; stored as f16(d)·code. g.d holds d (before f16 rounding).
    static void q8_0(const BlockGroup& g) {
        V amax = zero();
        for (int i = 0; i < 32; ++i) amax = L::vmax(L::vabs(at(g.x, i)), amax);
        const V d = amax / L::splat(127.f);
        const V id = L::select(L::ne(d, zero()), L::splat(1.f) / d, zero());
        const V half = L::splat(0.5f), one = L::splat(1.f), lo = L::splat(-128.f), hi = L::splat(127.f);
        for (int i = 0; i < 32; ++i) {
            const V v = at(g.x, i) * id, t = L::vtrunc(v);
            const V away = L::select(L::ge(L::vabs(v - t), half), L::select(L::lt(v, zero()), zero() - one, one), zero());
            put(g.q, i, L::select(L::eq(v, v), L::vmax(L::vmin(t + away, hi), lo), zero()));  // NaN (0·∞): 0
        }
        L::store(g.d, d);
        L::store(g.m, zero());
        const V s = L::f16r(d), m = zero();
        measure(g, 1, 32, &s, &m);
    }

    // The legacy reference rules alone.
    static void reference_sym(const BlockGroup& g, int qmin, int qmax) {
        V e;
        const V s = ref_sym(g.x, g.w, qmin, qmax, g.q, &e), m = zero();
        L::store(g.d, s);
        L::store(g.m, m);
        measure(g, 1, 32, &s, &m);
    }

    static void reference_asym(const BlockGroup& g, int qmax) {
        V m, e;
        const V s = ref_asym(g.x, g.w, qmax, g.q, &m, &e);
        L::store(g.d, s);
        L::store(g.m, m);
        measure(g, 1, 32, &s, &m);
    }

    static void reference(GgmlType t, const BlockGroup& g) {
        switch (t) {
            case GgmlType::Q8_0: q8_0(g); break;
            case GgmlType::Q4_0: reference_sym(g, -8, 7); break;
            case GgmlType::Q5_0: reference_sym(g, -16, 15); break;
            case GgmlType::Q4_1: reference_asym(g, 15); break;
            case GgmlType::Q5_1: reference_asym(g, 31); break;
            default: break;
        }
    }

    // Q3_K's 3-bit codes gain from several super-block rounds, Q6_K's 6-bit codes from trying
    // more scale codes in one (each setting the best of those measured on kjv-8M at its cost).
    static constexpr KSym kQ3K{-4, 3, -32, 31, Grid{3, 0.33f, 1, 3}, 4, 1};
    static constexpr KSym kQ6K{-32, 31, -128, 127, Grid{1, 1.f, 1, 3}, 1, 6};

    static void run(GgmlType t, const BlockGroup& g) {
        switch (t) {
            case GgmlType::Q4_0: legacy_sym(g, -8, 7); break;
            case GgmlType::Q5_0: legacy_sym(g, -16, 15); break;
            case GgmlType::Q4_1: legacy_asym(g, 15); break;
            case GgmlType::Q5_1: legacy_asym(g, 31); break;
            case GgmlType::Q2_K: kquant_asym(g, KAsym{16, 16, 3, 15}); break;
            case GgmlType::Q4_K: kquant_asym(g, KAsym{8, 32, 15, 63}); break;
            case GgmlType::Q5_K: kquant_asym(g, KAsym{8, 32, 31, 63}); break;
            case GgmlType::Q3_K: kquant_sym(g, kQ3K); break;
            case GgmlType::Q6_K: kquant_sym(g, kQ6K); break;
            default: break;
        }
    }
};

// A SearchKernel's two entries for lanes L: the search (specialised for unit weights) and the
// reference rule.
template <class L>
void search_group(GgmlType t, const BlockGroup& g) {
    if (g.unit_w)
        Search<L, true>::run(t, g);
    else
        Search<L, false>::run(t, g);
}
template <class L>
void reference_group(GgmlType t, const BlockGroup& g) {
    Search<L, true>::reference(t, g);
}

}  // namespace
