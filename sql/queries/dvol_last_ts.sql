-- The live DVOL job: the newest stored minute of a currency.
SELECT ts FROM dvol WHERE currency = %(currency)s ORDER BY ts DESC LIMIT 1
