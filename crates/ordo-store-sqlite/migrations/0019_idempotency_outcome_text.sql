-- PostgreSQL's outcome column becomes text; SQLite's is TEXT already. This
-- migration keeps the two backends' migrations one list.
SELECT 1;
