-- ?1 id: our rows of a deleted run (in its delete's transaction, when our tables exist): its
-- attempt row (so the attempt before it counts as its chain's latest again) and its count of
-- give-backs.
DELETE FROM durably_cli_attempts WHERE run_id = ?1;
DELETE FROM durably_cli_given_back WHERE run_id = ?1;
