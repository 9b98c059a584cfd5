/*
 * solve.c: the linear algebra of the Markov model: x = Q x + b over the
 * kept transient states of an absorbing chain, for two right-hand sides at
 * once (conversion and value).
 *
 * Few states: Gaussian elimination with partial pivoting on I - Q, exact up
 * to rounding. Many states (higher orders, many channels): Gauss-Seidel
 * sweeps over the CSR rows. I - Q is a non-singular M-matrix here (every
 * state reaches an absorbing one, because every observed path ends in one),
 * so the sweeps converge from any start, and monotonically from 0 or from
 * an upper bound such as the unremoved chain's solution. Self-loops are
 * solved within the sweep (x_s = (b_s + sum_{t != s} Q_st x_t) / (1 - Q_ss)),
 * which keeps sticky states from slowing convergence.
 *
 * The sweeps run on the right-hand sides scaled to a largest entry of 1
 * (the system is linear, so x scales with b): the tolerance is then
 * relative, and a chain whose conversion probabilities are all tiny (one
 * conversion among 1e59 non-converting journeys) is solved as precisely as
 * any other instead of "converging" on its first sweep.
 */
#include "attrib_internal.h"

#include <string.h>

/* Dense: build (I - Q | b1 b2) over the kept states and eliminate. */
static void solve_dense(const pm__attrib_chain_t *c, const bool *keep, size_t m, double *x_conv, double *x_value)
{
    size_t n = c->nstates, w = m + 2;
    uint32_t *row_of = pm_malloc(n * sizeof(*row_of)), *state_of = pm_malloc(m * sizeof(*state_of));
    double *a = pm_calloc(m * w, sizeof(double));
    for (size_t s = 0, r = 0; s < n; s++) {
        row_of[s] = keep[s] ? (uint32_t)r : UINT32_MAX;
        if (keep[s]) state_of[r++] = (uint32_t)s;
    }
    for (size_t r = 0; r < m; r++) {
        size_t s = state_of[r];
        double *row = a + r * w;
        row[r] = 1;
        for (size_t k = c->rowptr[s]; k < c->rowptr[s + 1]; k++)
            if (row_of[c->col[k]] != UINT32_MAX) row[row_of[c->col[k]]] -= c->prob[k];
        row[m] = c->rhs_conv[s];
        row[m + 1] = c->rhs_value[s];
    }
    for (size_t col = 0; col < m; col++) {
        size_t piv = col;
        for (size_t r = col + 1; r < m; r++)
            if (fabs(a[r * w + col]) > fabs(a[piv * w + col])) piv = r;
        if (piv != col)
            for (size_t k = col; k < w; k++) {
                double t = a[col * w + k];
                a[col * w + k] = a[piv * w + k];
                a[piv * w + k] = t;
            }
        double d = a[col * w + col];
        if (PM_NEVER(d == 0)) continue; /* I - Q is non-singular by construction */
        for (size_t r = col + 1; r < m; r++) {
            double f = a[r * w + col] / d;
            if (f == 0) continue;
            for (size_t k = col; k < w; k++)
                a[r * w + k] -= f * a[col * w + k];
        }
    }
    for (size_t r = m; r-- > 0;) {
        double *row = a + r * w, sc = row[m], sv = row[m + 1];
        for (size_t k = r + 1; k < m; k++) {
            sc -= row[k] * x_conv[state_of[k]];
            sv -= row[k] * x_value[state_of[k]];
        }
        x_conv[state_of[r]] = row[r] != 0 ? sc / row[r] : 0;
        x_value[state_of[r]] = row[r] != 0 ? sv / row[r] : 0;
    }
    for (size_t s = 0; s < n; s++)
        if (!keep[s]) x_conv[s] = x_value[s] = 0;
    pm_free(a);
    pm_free(state_of);
    pm_free(row_of);
}

/* One Gauss-Seidel sweep over x_conv / conv_scale and x_value / value_scale
 * (inv_* = 1 / scale, 0 when that side is all zeros); returns the largest
 * change of any scaled entry. */
static double sweep(const pm__attrib_chain_t *c, const bool *keep, double inv_conv, double inv_value, double *x_conv,
                    double *x_value)
{
    double most = 0;
    for (size_t s = 0; s < c->nstates; s++) {
        if (!keep[s]) continue;
        double sc = c->rhs_conv[s] * inv_conv, sv = c->rhs_value[s] * inv_value, self = 0;
        for (size_t k = c->rowptr[s]; k < c->rowptr[s + 1]; k++) {
            uint32_t t = c->col[k];
            if (t == s) self += c->prob[k];
            else if (keep[t]) {
                sc += c->prob[k] * x_conv[t];
                sv += c->prob[k] * x_value[t];
            }
        }
        double stay = 1 - self;
        double nc = stay > 0 ? sc / stay : 0, nv = stay > 0 ? sv / stay : 0;
        double dc = fabs(nc - x_conv[s]), dv = fabs(nv - x_value[s]);
        if (dc > most) most = dc;
        if (dv > most) most = dv;
        x_conv[s] = nc;
        x_value[s] = nv;
    }
    return most;
}

/* The largest right-hand side over the kept states, and x scaled by it. */
static double scale_down(const bool *keep, size_t n, const double *rhs, double *x)
{
    double top = 0;
    for (size_t s = 0; s < n; s++)
        if (keep[s] && rhs[s] > top) top = rhs[s];
    for (size_t s = 0; s < n; s++)
        x[s] = keep[s] && top > 0 ? x[s] / top : 0;
    return top;
}

void pm__attrib_chain_solve(const pm__attrib_chain_t *c, const bool *keep, const pm_attrib_options_t *o,
                            double *x_conv, double *x_value, uint64_t *sweeps, double *last_change, bool *converged)
{
    size_t m = 0;
    for (size_t s = 0; s < c->nstates; s++)
        m += keep[s];
    *sweeps = 0;
    *last_change = 0;
    *converged = true;
    if (m <= o->dense_max_states) {
        solve_dense(c, keep, m, x_conv, x_value);
        return;
    }
    double top_conv = scale_down(keep, c->nstates, c->rhs_conv, x_conv);
    double top_value = scale_down(keep, c->nstates, c->rhs_value, x_value);
    double inv_conv = top_conv > 0 ? 1 / top_conv : 0, inv_value = top_value > 0 ? 1 / top_value : 0;
    double change = INFINITY;
    while (change > o->tolerance && *sweeps < o->max_iterations) {
        change = sweep(c, keep, inv_conv, inv_value, x_conv, x_value);
        ++*sweeps;
    }
    for (size_t s = 0; s < c->nstates; s++) {
        x_conv[s] *= top_conv;
        x_value[s] *= top_value;
    }
    *last_change = change;
    *converged = change <= o->tolerance;
}
