-- The server's wall clock at the moment the statement runs, in milliseconds since the epoch
-- (clock_timestamp(), not the transaction's start): one sample of the offset measurement.
SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::int8
