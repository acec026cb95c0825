"""The stages of the pipeline, as asset selections: the demo materialises them in this
order, and definitions.py declares one job per stage so the UI launches each as the
demo does (Jobs -> <stage>_job)."""

from __future__ import annotations

from dagster import AssetKey, AssetSelection

from ecom_assets.schema import ENTITIES

STAGES: dict[str, AssetSelection] = {
    "snapshots": AssetSelection.assets(AssetKey(["raw", "products"]), AssetKey(["raw", "users"]),
                                       AssetKey(["raw", "support_tickets"]), AssetKey(["raw", "faq"])),
    "events": AssetSelection.assets(AssetKey(["raw", "events"])),
    "inbox": AssetSelection.assets(*(AssetKey(["raw", f"inbox_{e}"]) for e in ENTITIES)),
    "features": AssetSelection.groups("features"),
    "text": AssetSelection.groups("text"),
    # The "popular in" lists cold-start users get are a privacy release: released with the
    # recommendations; the segment interests the copy reads, with the copy.
    "recommend": AssetSelection.groups("recommend") | AssetSelection.assets(AssetKey(["privacy", "popular_items"])),
    "copy": AssetSelection.groups("privacy", "copy") - AssetSelection.assets(AssetKey(["privacy", "popular_items"])),
    "service": AssetSelection.groups("service"),
    "monitoring": AssetSelection.groups("monitoring"),
    "loop": AssetSelection.groups("loop"),
    "preview": AssetSelection.groups("preview"),
}
# Stages whose assets are daily partitions (their jobs are partitioned; the demo runs the
# loop one day at a time, each day's policy reading the day before).
PARTITIONED_STAGES = ("events", "loop")
STAGE_DESCRIPTIONS = {
    "snapshots": "Products, users, support tickets and the FAQ from the data source into raw.*",
    "events": "Behaviour events from the data source, one daily partition per day (backfill a range in one run)",
    "inbox": "Files dropped in the inbox folder into raw.inbox_*",
    "features": "The dbt project: staging -> intermediate -> marts, dbt tests and drift checks",
    "text": "Fine-tune the product text encoder, export it to ONNX, embed the catalogue and users, similar items",
    "recommend": "Train, evaluate and gate the recommender; release the 'popular in' lists with differential privacy; "
                 "serve the champion's lists",
    "copy": "Segment interests released with differential privacy (and the privacy ledger), corpus, GPT-2 copy "
            "generator, ONNX decoder and the reviewed ad copy",
    "service": "Support encoder (fine-tuned on answered tickets), the answer index, replies with hand-offs and their quality",
    "monitoring": "Prediction drift of what is served",
    "loop": "One simulated day of copy impressions under the serving policy, the policy updated and gated by "
            "off-policy evaluation, and the A/B read-out against the holdout",
    "preview": "The storefront preview: what a sample of shoppers per segment would see, in Chinese and English",
}
