"""Closing the loop: policies that choose what to show (copy variants, list slots) with the
exact probability of every choice, off-policy estimators that value a new policy from
the logs of an old one, and A/B read-outs. Plain arrays in, plain numbers out; no Dagster.

    ope.py        DM, IPW, SNIPW, DR, SNDR, Switch-DR (Open Bandit Pipeline conventions),
                  bootstrap intervals, diagnostics, a cross-fitted reward model
    policies.py   epsilon-greedy, Bernoulli Thompson sampling, LinUCB, linear Thompson
                  sampling; each reports its action distribution
    abtest.py     salted assignment, per-arm read-outs with intervals, sample-ratio
                  mismatch, power and minimum detectable effect, always-valid p-values
"""
