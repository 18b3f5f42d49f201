-- Step scope (PostgreSQL): the outermost iteration prefix of a step's path
-- ('' outside any map/loop iteration, 'each[7].' inside one), so a report
-- inside a large map reads one iteration's steps, not the whole run's.
ALTER TABLE steps ADD COLUMN scope TEXT NOT NULL DEFAULT '';
UPDATE steps SET scope = substr(path, 1, strpos(path, '].') + 1)
WHERE strpos(path, '].') > 0 AND strpos(substr(path, 1, strpos(path, '].')), '[') > 0;
CREATE INDEX steps_scope ON steps (run_id, scope);
