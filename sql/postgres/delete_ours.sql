-- $1 ids: our rows of deleted runs (in their delete's transaction, when our tables exist):
-- their attempt rows (so the attempt before one counts as its chain's latest again) and their
-- counts of give-backs.
DELETE FROM durably_cli_attempts WHERE run_id = ANY($1);
DELETE FROM durably_cli_given_back WHERE run_id = ANY($1);
