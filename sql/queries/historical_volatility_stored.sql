-- The live historical-volatility job: the hours of a currency already stored in an answer's range.
SELECT ts FROM historical_volatility WHERE currency = %(currency)s AND ts BETWEEN %(first)s AND %(last)s
