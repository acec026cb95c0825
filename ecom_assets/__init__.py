"""ecom-assets: personalised e-commerce marketing as Dagster software-defined assets."""

__version__ = "0.1.0"
