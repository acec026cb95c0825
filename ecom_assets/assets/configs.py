"""Dagster Config -> the ml/ dataclass it configures, in one place.

A launchpad Config's fields that share a name with the dataclass's fields go over as
they are, so a parameter travels one way (config -> settings -> where it is used) and a
new field needs no copying code.
"""

from __future__ import annotations

from dataclasses import fields
from typing import TypeVar

from dagster import Config

T = TypeVar("T")


def to_settings(config: Config, cls: type[T], **overrides) -> T:
    names = {f.name for f in fields(cls)}
    values = {k: v for k, v in config.model_dump().items() if k in names}
    return cls(**{**values, **overrides})
