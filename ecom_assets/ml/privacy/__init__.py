"""Differential privacy for what leaves the warehouse: bounded contributions, DP counts and
sums (OpenDP's mechanisms), a minimum group size, and an accountant that refuses a release
once a period's budget is spent.

    mechanisms   DP counts (discrete Laplace) and sums (Laplace) over a vector of cells, the
                 noise scale from the mechanism's own privacy map, and the `Release` each
                 one describes for the ledger
    accountant   the budget per period over the ledger's releases (basic composition: the
                 epsilons add), refusing one that would overspend
    bounding     the SQL that caps each user's rows in a release, in a deterministic order

No Dagster and no warehouse connection here: the assets read, call these and write the
released table and the ledger row in one transaction.
"""
