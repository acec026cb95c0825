"""The model registry table: the gate's decision, promotion, retirement, rejection."""

def test_gate_keeps_a_worse_challenger_out():
    from ecom_assets.warehouse.registry import gate

    assert gate(0.050, None, 0.02).promote, "the first model becomes champion"
    assert gate(0.0495, 0.050, 0.02).promote, "within tolerance"
    worse = gate(0.045, 0.050, 0.02)
    assert not worse.promote and "0.0450 < 0.0490" in worse.reason


def test_registry_promotes_retires_and_rejects(tmp_path):
    import duckdb

    from ecom_assets.warehouse.registry import champion, history, register_and_gate

    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    args = dict(params={"k": 1}, artifact_path="a", sha256="s", metric="NDCG@10", tolerance=0.02)
    assert register_and_gate(con, "rec", "v1", metrics={"NDCG@10": 0.05}, **args).promote
    assert register_and_gate(con, "rec", "v2", metrics={"NDCG@10": 0.06}, **args).promote
    rejected = register_and_gate(con, "rec", "v3", metrics={"NDCG@10": 0.03}, **args)
    assert not rejected.promote and rejected.champion_version == "v2"
    assert champion(con, "rec")["version"] == "v2"
    assert history(con, "rec")["status"].tolist() == ["retired", "champion", "rejected"]
    # The window moved and the champion, re-scored on the challenger's data, does worse there
    # than it did at its training: the challenger is judged against that, not the old figure.
    fair = register_and_gate(con, "rec", "v4", metrics={"NDCG@10": 0.04}, champion_rescored=("v2", 0.035), **args)
    assert fair.promote and fair.basis == "same data" and fair.champion_recorded == 0.06
    assert "on the same validation data" in fair.reason
    stale = register_and_gate(con, "rec", "v5", metrics={"NDCG@10": 0.03}, champion_rescored=("v2", 0.01), **args)
    assert not stale.promote and stale.basis == "recorded", "a re-score of a version no longer champion is ignored"


