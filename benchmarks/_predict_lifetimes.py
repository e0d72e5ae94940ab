"""Run lifetimes (0.11.3) on a data file; executed inside ``.venv-bench`` by bench_predict.py.

Usage: python _predict_lifetimes.py MODEL DATA.npz  ->  prints one JSON line
(fit seconds, parameters, total log-likelihood). Kept free of recompra imports: the
benchmark venv has only lifetimes and its pinned dependencies.

When DATA.npz holds a ``weights`` array, identical rows have been merged and lifetimes is
given ``weights=`` — the usage its ``fit`` docstrings document ("Fader and Hardie
condense the individual RFM matrix into all observed combinations ... the
loglikelihood is calculated for each pattern and multiplied by the number of
customers with that pattern").
"""

from __future__ import annotations

import json
import sys
import time
import warnings

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")


def main() -> None:
    model, path = sys.argv[1], sys.argv[2]
    data = np.load(path)
    import lifetimes

    weights = data["weights"] if "weights" in data.files else np.ones(len(data["frequency"]))

    if model == "gg":
        x = pd.Series(data["frequency"])
        m = pd.Series(data["monetary"])
        keep = (x > 0) & (m > 0)
        fitter = lifetimes.GammaGammaFitter()
        start = time.perf_counter()
        fitter.fit(x[keep], m[keep], weights=weights[keep.to_numpy()])
        elapsed = time.perf_counter() - start
        params = {"p": fitter.params_["p"], "q": fitter.params_["q"], "v": fitter.params_["v"]}
        ll = _gg_ll(params, x[keep].to_numpy(), m[keep].to_numpy(), weights[keep.to_numpy()])
    else:
        cls = {
            "bgnbd": lifetimes.BetaGeoFitter,
            "pareto": lifetimes.ParetoNBDFitter,
            "mbgnbd": lifetimes.ModifiedBetaGeoFitter,
        }[model]
        fitter = cls()
        x = pd.Series(data["frequency"])
        r = pd.Series(data["recency"])
        t = pd.Series(data["T"])
        start = time.perf_counter()
        fitter.fit(x, r, t, weights=weights)
        elapsed = time.perf_counter() - start
        params = {k: float(v) for k, v in fitter.params_.items()}
        # lifetimes' own likelihood at its optimum, as a total over customers: the BG/MBG
        # objective (log-parameters) is a weighted mean over customers; Pareto/NBD exposes
        # the per-row log-likelihood (natural parameters)
        values = np.array(list(params.values()))
        xa, ra, ta = x.to_numpy(), r.to_numpy(), t.to_numpy()
        if model == "pareto":
            ll = float(np.sum(weights * fitter._conditional_log_likelihood(values, xa, ra, ta)))
        else:
            nll = fitter._negative_log_likelihood(np.log(values), xa, ra, ta, weights, 0.0)
            ll = -float(nll) * float(weights.sum())
    print(json.dumps({"seconds": elapsed, "params": params, "log_likelihood": float(ll)}))


def _gg_ll(params: dict, x: np.ndarray, m: np.ndarray, weights: np.ndarray) -> float:
    from scipy.special import gammaln

    p, q, v = params["p"], params["q"], params["v"]
    return float(
        np.sum(
            weights
            * (
                gammaln(p * x + q)
                - gammaln(p * x)
                - gammaln(q)
                + q * np.log(v)
                + (p * x - 1) * np.log(m)
                + p * x * np.log(x)
                - (p * x + q) * np.log(v + m * x)
            )
        )
    )


if __name__ == "__main__":
    main()
