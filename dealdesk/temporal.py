"""The one place a Temporal Client is built, so no path forgets the pydantic converter."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from dealdesk.settings import Settings


async def connect(settings: Settings) -> Client:
    # pydantic_data_converter carries Decimal as an exact JSON string; the default converter
    # cannot serialise Decimal at all.
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
    )
