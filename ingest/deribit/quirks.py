"""Deribit facts the code depends on, named once (see docs/deribit-api.md for the sources)."""

# get_tradingview_chart_data returns at most ~5,000 candles; for a longer range the newest are kept.
MAX_CANDLES_PER_CALL = 5_000
# get_funding_rate_history returns at most 744 hourly rows (31 days) counted back from end_timestamp.
FUNDING_ROWS_PER_CALL = 744
# trades endpoints: count ≤ 1000 (1001 is an error)
MAX_TRADES_PER_CALL = 1_000
# get_delivery_prices: count ≤ 1000
MAX_DELIVERY_PRICES_PER_CALL = 1_000
# the lower bound of chart data may be exclusive: ask from start - 1 ms and de-duplicate
CHART_LOWER_BOUND_SLACK_MS = 1
# get_funding_rate_history does not return the row at start_timestamp (the docs' example asks
# 00:00-04:00 and gets 01:00..04:00): ask from start - 1 ms, so the first hour wanted comes back
# whether the bound is exclusive (the real API) or inclusive
FUNDING_LOWER_BOUND_SLACK_MS = 1
MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000

# JSON-RPC error codes
TOO_MANY_REQUESTS = 10028
INVALID_PARAMS = -32602
METHOD_NOT_FOUND = -32601
SETTLEMENT_IN_PROGRESS = 10041
SYSTEM_MAINTENANCE = 11051
# transient server-side conditions worth retrying with backoff
RETRYABLE_CODES = frozenset({11094, 10040, 13028, 13888, 10066, SYSTEM_MAINTENANCE, SETTLEMENT_IN_PROGRESS})
# -32602 data.reason for an expired instrument the main host has archived: ask the history host
INSTRUMENT_NOT_FOUND = "instrument not found"

CURRENCIES = ("BTC", "ETH")
PERPETUALS = ("BTC-PERPETUAL", "ETH-PERPETUAL")
INDEX_NAMES = {"BTC": "btc_usd", "ETH": "eth_usd"}
