-- A route paused during an incident replay until a reconciliation is clean: the job whose
-- clean run resumes it (NULL: resumed by hand only).
ALTER TABLE paused_routes ADD COLUMN until_clean TEXT;
