"""Deribit's public JSON-RPC API: the HTTP client, its rate limiter and the exchange's named quirks."""

from ingest.deribit.client import DeribitClient, DeribitError, RequestFailed
from ingest.deribit.ratelimit import CreditLimiter

__all__ = ["CreditLimiter", "DeribitClient", "DeribitError", "RequestFailed"]
