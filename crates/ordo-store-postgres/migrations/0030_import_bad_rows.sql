-- What an import does with bad rows: refuse the whole file (check every row
-- first, then apply) or skip them. Imports made before skipped them, and
-- applied at once.
ALTER TABLE imports
    ADD COLUMN bad_rows text NOT NULL DEFAULT 'skip' CHECK (bad_rows IN ('refuse', 'skip')),
    ADD COLUMN stage text NOT NULL DEFAULT 'applying' CHECK (stage IN ('checking', 'applying'));
