#!/usr/bin/env python3
"""bench/markov_ref.py: a reference for bench/attribution.sh, written apart
from perfmark (pure Python, standard library only): first-order Markov
removal effects over a paths CSV (path;total_conversions;total_conversion_value;
total_null, channels joined by " > "), the textbook way: transition counts
from start through each path to conversion or null, P(conversion) solved
exactly by Gaussian elimination on (I - Q) x = r, then once per channel with
its state removed. Prints "channel removal_effect conversions" lines, sorted
by channel name, to compare with `perfmark attribute --model markov`.
"""
import sys
from collections import defaultdict


def read(path):
    paths = defaultdict(lambda: [0.0, 0.0])
    with open(path) as f:
        next(f)
        for line in f:
            p, conv, _value, null = line.rstrip("\n").split(";")
            acc = paths[p]
            acc[0] += float(conv)
            acc[1] += float(null)
    return paths


def counts(paths):
    out = defaultdict(float)        # (from, to) -> weight; "(start)" and "(conv)"/"(null)"
    for p, (conv, null) in paths.items():
        w = conv + null
        if w <= 0:
            continue
        chain = p.split(" > ")
        prev = "(start)"
        for ch in chain:
            out[(prev, ch)] += w
            prev = ch
        out[(prev, "(conv)")] += conv
        out[(prev, "(null)")] += null
    return out


def p_conversion(edges, states, removed=None):
    """P(conversion from start) with `removed` turned into a failure."""
    keep = [s for s in states if s != removed]
    idx = {s: i for i, s in enumerate(keep)}
    n = len(keep)
    out = defaultdict(float)
    for (a, _b), w in edges.items():
        out[a] += w
    a_mat = [[0.0] * (n + 1) for _ in range(n)]
    for i in range(n):
        a_mat[i][i] = 1.0
    for (a, b), w in edges.items():
        if a not in idx:
            continue
        if b == "(conv)":
            a_mat[idx[a]][n] += w / out[a]
        elif b in idx:
            a_mat[idx[a]][idx[b]] -= w / out[a]
    for c in range(n):                      # Gaussian elimination, partial pivoting
        piv = max(range(c, n), key=lambda r: abs(a_mat[r][c]))
        a_mat[c], a_mat[piv] = a_mat[piv], a_mat[c]
        for r in range(c + 1, n):
            f = a_mat[r][c] / a_mat[c][c]
            if f:
                for k in range(c, n + 1):
                    a_mat[r][k] -= f * a_mat[c][k]
    x = [0.0] * n
    for r in range(n - 1, -1, -1):
        x[r] = (a_mat[r][n] - sum(a_mat[r][k] * x[k] for k in range(r + 1, n))) / a_mat[r][r]
    return sum(w / out["(start)"] * x[idx[b]] for (a, b), w in edges.items() if a == "(start)" and b in idx)


def main():
    paths = read(sys.argv[1])
    edges = counts(paths)
    states = sorted({a for a, _ in edges} | {b for _, b in edges} - {"(conv)", "(null)"})
    states = [s for s in states if s != "(start)"]
    states.insert(0, "(start)")
    total = sum(c for c, _ in paths.values())
    p = p_conversion(edges, states)
    effects = {ch: 1 - p_conversion(edges, states, ch) / p for ch in states[1:]}
    s = sum(effects.values())
    for ch in sorted(effects):
        print(f"{ch} {effects[ch]:.6f} {effects[ch] / s * total:.6f}")


if __name__ == "__main__":
    main()
