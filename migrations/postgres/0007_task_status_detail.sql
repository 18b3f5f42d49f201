-- Why a running attempt is not progressing, as the process following it
-- says ("waiting for cluster capacity: ..."). It lives on the leased task,
-- so it goes when the task is reported, released or expires.
ALTER TABLE tasks ADD COLUMN status_detail TEXT;
